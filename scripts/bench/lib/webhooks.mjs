// scripts/bench/lib/webhooks.mjs — the signed Facebook webhooks every bench sends: the
// same citizen texts (a procedure's papers, an online filing question, a fee, a dossier
// lookup), one new message id each, signed like Facebook (X-Hub-Signature-256).

import { createHmac } from 'node:crypto';

export const TEXTS = [
    'lam khai sinh can giay to gi',
    'đăng ký tạm trú online được không',
    'le phi lam ho chieu bao nhieu',
    'cho hỏi hồ sơ 000.00.25.H29-231122-0001',
];
const EPOCH_MS = 1763900000000; // message timestamps: fixed, so that bodies are reproducible

/**
 * Webhook number i: {body, signature}. `mid` names the message (unique per request),
 * `psid` the citizen; the text is TEXTS[i % TEXTS.length].
 */
export function signedWebhook(secret, i, mid, psid) {
    const now = EPOCH_MS + i;
    const body = JSON.stringify({
        object: 'page',
        entry: [{ id: '1000', time: now, messaging: [{ sender: { id: psid }, recipient: { id: '1000' }, timestamp: now, message: { mid, text: TEXTS[i % TEXTS.length] } }] }],
    });
    return { body, signature: `sha256=${createHmac('sha256', secret).update(body).digest('hex')}` };
}
