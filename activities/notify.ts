// notifyOperators: posts recovery events to the worker's notification URLs. Best effort: a
// notification never fails a recovery. The URLs live with the worker (a Slack webhook URL is a
// secret), never in the spec or the workflow history.
import { notify, type NotifyEvent } from '../lib/notify.js';
import type { ActivityDeps } from './context.js';

export const createNotifyActivities = (deps: ActivityDeps) => ({
  async notifyOperators(event: NotifyEvent): Promise<void> {
    if (deps.notifyUrls?.length) await notify(deps.notifyUrls, event);
  },
});
