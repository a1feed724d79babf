// The messages a running recovery answers to, shared by workflows and clients.
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { Progress } from '../lib/model/report.js';

export const progressQuery = defineQuery<Progress>('progress');
export const approveSignal = defineSignal<[{ by?: string; note?: string }?]>('approve');
export const abortSignal = defineSignal<[{ by?: string; reason?: string }?]>('abort');
