// Search attributes that make recoveries findable in the Web UI (ClusterName = "seed" and so on).
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const ClusterName = defineSearchAttributeKey('ClusterName', SearchAttributeType.KEYWORD);
export const Trigger = defineSearchAttributeKey('Trigger', SearchAttributeType.KEYWORD);
export const Phase = defineSearchAttributeKey('Phase', SearchAttributeType.KEYWORD);
/** How a run ended: recovered, already-healthy, failed, aborted (the list tells them apart). */
export const Outcome = defineSearchAttributeKey('Outcome', SearchAttributeType.KEYWORD);
export const searchAttributeKeys = [ClusterName, Trigger, Phase, Outcome];

/** The same, as `temporal server start-dev --search-attribute` arguments. */
export const devServerSearchAttributeArgs = searchAttributeKeys.flatMap((k) => ['--search-attribute', `${k.name}=Keyword`]);
