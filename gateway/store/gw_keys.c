/*
 * gw_keys.c — the keyspace table, Redis Cluster's slot hashing, and the partitions
 * (gw_keys.h). The only file of motcua that writes a key name: everything else
 * builds keys from the table (C: gw_key; Lua: the K.<family> helpers of the prelude);
 * scripts/check-layers.sh fails the tests on an "mc:" literal anywhere else.
 */
#include "gateway/store/gw_keys.h"

#include "core/mc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "mc:"
#define ANY_PART "the partition of the citizen (\"<channel>:<user>\")"
#define NOTIF_PART "the partition its notification id names"
#define DEPT_PART "the partition of \"dept:<dept>\""

/* The table. A family's parts follow its name, separated by ':'. */
static const gw_key_spec table[GW_K__COUNT] = {
    {GW_K_IN, "inbound", 0, 0, "stream", ANY_PART,
     "webhooks (ingest script); acknowledged by the worker", "entries deleted when acknowledged"},
    {GW_K_DEDUP, "dedup", 3, 0, "string", ANY_PART, "webhooks (ingest script)", "7 days"},
    {GW_K_CONV, "conv", 2, 0, "hash", ANY_PART, "conversation turn (last_in_ms ctx followed)",
     "8 days after the last message (web chat: 24 h)"},
    {GW_K_SUBS, "subs", 2, 0, "set", ANY_PART, "turn, subscriptions API", "until unsubscribed"},
    {GW_K_SUB_WARD, "sub_ward", 1, 0, "set", ANY_PART " of each member", "turn, subscriptions API",
     "until unsubscribed"},
    {GW_K_SUB_WARD_TAG, "sub_ward_tag", 2, 0, "set", ANY_PART " of each member",
     "subscriptions API", "until unsubscribed"},
    {GW_K_OUT, "out", 1, 0, "stream", ANY_PART " (replies) or " NOTIF_PART,
     "turn (replies), scheduler (due notifications); acknowledged by the sender",
     "entries deleted when acknowledged"},
    {GW_K_WIRE, "wire", 1, 0, "hash", "the partition of its stream", "sender (wire marks)",
     "a field lives until its entry is acknowledged"},
    {GW_K_HANDOFF, "handoff", 0, 0, "stream", ANY_PART, "turn", "until read by officers"},
    {GW_K_DLV, "dlv", 2, 0, "hash", "the partition of the identity the message went to",
     "sender (when sent), worker (receipts)", "7 days"},
    {GW_K_NOTIF, "notif", 1, 0, "hash", NOTIF_PART, "API, scheduler, sender, retention",
     "texts removed after [scheduler] retention_days; the status stays"},
    {GW_K_ATTEMPTS, "attempts", 1, 0, "list", NOTIF_PART, "scheduler, sender",
     "as its notification"},
    {GW_K_DUE, "due", 0, 0, "zset", "each partition", "API, scheduler, sender (fallback)",
     "members leave when routed"},
    {GW_K_DEAD, "dead", 0, 0, "stream", "each partition", "scheduler, sender", "retention"},
    {GW_K_DEAD_DEPT, "dead_dept", 1, 0, "zset", "each partition", "scheduler, sender", "retention"},
    {GW_K_FINAL, "final", 0, 0, "zset", "each partition", "scheduler, sender, receipts",
     "members leave when retention strips them"},
    {GW_K_STATS, "stats", 2, 0, "hash", "each partition", "scheduler, sender, receipts", "40 days"},
    {GW_K_RATE, "rate", 1, 1, "hash", "its own (the channel's token bucket, shared)",
     "scheduler (tokens taken before a due pass)", "60 s after the last use"},
    {GW_K_BATCH, "batch", 1, 0, "hash", NOTIF_PART " (the batch's)", "API (batch)",
     "as its idempotency key"},
    {GW_K_IDEM, "idem", 2, 0, "string", "the partition of what it created", "API", "7 days"},
    {GW_K_BC, "bc", 1, 0, "hash", "the partition its broadcast id names", "API, scheduler",
     "text removed by retention"},
    {GW_K_BC_DUE, "bc_due", 0, 0, "zset", "each partition", "API, scheduler",
     "members leave when fanned out"},
    {GW_K_BC_PART, "bc_part", 1, 0, "hash", "each partition the broadcast reaches",
     "scheduler (fan-out), sender and receipts (outcomes)", "as its broadcast"},
    {GW_K_BC_SEEN, "bc_seen", 1, 0, "set", "each partition", "scheduler (fan-out)",
     "deleted when the partition's fan-out ends"},
    {GW_K_DOSSIER, "dossier", 1, 0, "hash", "the partition of its code", "API", "none"},
    {GW_K_HISTORY, "history", 1, 0, "list", "the partition of its code", "API", "none"},
    {GW_K_SUB_DOSSIER, "sub_dossier", 1, 0, "set", "the partition of its code",
     "turn (before its commit), subscriptions API", "until unsubscribed"},
    {GW_K_DOSSIERS, "dossiers", 1, 0, "zset", "the partition of \"dept:<dept>\"", "API", "none"},
    {GW_K_TPL, "tpl", 1, 0, "hash", "the partition of \"dept:<dept>\"", "API (templates)", "none"},
    {GW_K_WC_SESSION, "wc_session", 1, 0, "hash", "the partition of \"webchat:<token>\"",
     "web chat", "24 h after the last message"},
    {GW_K_WC_HISTORY, "wc_history", 1, 0, "zset", "the partition of \"webchat:<token>\"",
     "web chat (in the turn's MULTI)", "24 h; the last 50 kept"},
    {GW_K_WC_ID, "wc_id", 2, 0, "string", "the partition of \"webchat:<token>\"", "web chat",
     "24 h"},
    {GW_K_WC_IN, "wc_in", 0, 0, "stream", "the partition of \"webchat:<token>\"", "web chat",
     "capped at about 100,000 entries"},
    {GW_K_REPORT_SEQ, "report_seq", 1, 1, "hash", "its own",
     "turn (n: the day's last number; one field per filing turn, so a turn run again gets "
     "its number again)",
     "3 days"},
    {GW_K_TOKEN, "token", 1, 1, "hash", "its own", "sender (token refresh)", "none"},
    {GW_K_TOKEN_LOCK, "token_lock", 1, 1, "string", "its own", "sender (token refresh)", "30 s"},
    {GW_K_RETENTION, "retention", 0, 0, "hash", "each partition (its dead list's cursor)",
     "retention sweeper", "none"},
    {GW_K_REPORT, "report", 1, 0, "hash", "the partition of its ticket id (PA-yymmdd-nnnn)",
     "turn (filed, details added, before its commit), API (status events), retention",
     "the citizen's words, place and identity removed [scheduler] retention_days after it "
     "was closed; the rest stays (statistics)"},
    {GW_K_REPORT_LOG, "report_log", 1, 0, "list", "the partition of its ticket id",
     "turn, API (status events), retention", "as its ticket"},
    {GW_K_DEPT_REPORTS, "dept_reports", 1, 0, "zset", "the partition of \"dept:<dept>\"",
     "turn (before its commit)", "none"},
    {GW_K_REPORT_FINAL, "report_final", 0, 0, "zset", "each partition (its tickets)",
     "API (status events)", "members leave when retention strips them"},
    {GW_K_MSGLOG, "msglog", 2, 0, "zset",
     "the partition of the recipient (\"<channel>:<user>\"; a phone: of \"<sms channel>:<phone>\")",
     "API (before the notification's write), broadcast fan-out",
     "entries older than [scheduler] retention_days trimmed at each write; the key expires "
     "that long after the last"},
    {GW_K_OFFICER, "officer", 2, 0, "hash", DEPT_PART,
     "API and `motcua officer` (officers), sign-in (the last TOTP step)", "none"},
    {GW_K_OFFICERS, "officers", 1, 0, "zset", DEPT_PART, "API and `motcua officer` (officers)",
     "none"},
    {GW_K_LOGIN, "login", 1, 0, "string", "the partition of \"login:<user>\"",
     "API and `motcua officer` (officers)", "none"},
    {GW_K_SIGNIN_FAIL, "signin_fail", 1, 0, "string", "the partition of \"login:<user>\"",
     "console sign-in", "[console] lock_minutes after the first failure"},
    {GW_K_SESSION, "session", 1, 0, "hash", "the partition of its cookie's hash",
     "console sign-in, every request of the session (last use)",
     "[console] idle_minutes after the last request, [console] max_hours at most"},
    {GW_K_APIKEY, "apikey", 2, 0, "hash", DEPT_PART, "API (keys; last use on each request)",
     "until revoked"},
    {GW_K_APIKEYS, "apikeys", 1, 0, "hash", DEPT_PART, "API (keys)", "until revoked"},
    {GW_K_AUDIT, "audit", 1, 0, "stream", DEPT_PART, "API, console, `motcua officer`",
     "entries older than [admin] audit_days trimmed on each append"},
    /* ZNS says a phone is not on Zalo: the sender skips that channel for this citizen (one
     * GET in the citizen's partition, like the chat window) until the key expires */
    {GW_K_UNREACH, "unreach", 2, 0, "string", ANY_PART,
     "sender (the provider said the citizen cannot be reached)",
     "[<channel>] unreachable_days (ZNS: [zalo] zns_unreachable_days)"},
    /* ZNS's daily quota is per OA, not per citizen or notification: one key of its own,
     * read by the sender before a request, so no partition's script needs it */
    {GW_K_HOLD, "hold", 1, 1, "string", "its own (one per channel, shared by every process)",
     "sender (the provider said its daily quota is spent)", "until the quota resets (PX)"},
    /* next to sub_dossier (one script writes both, the event script reads both): a
     * subscriber by phone whose department gave the channels (a comma list); absent =
     * the default order (ZNS before SMS when the department's template is linked) */
    {GW_K_SUB_CHANS, "sub_chans", 1, 0, "hash", "the partition of its code", "subscriptions API",
     "a field leaves with a DELETE; a citizen's HUY leaves it unread (not in sub_dossier)"},
    /* [sms] max_per_number_per_day: one counter per number and local day, in the citizen's
     * partition (notifications to one number live in every partition: the sender counts,
     * as it checks the chat window, right before the first request) */
    {GW_K_PER_DAY, "per_day", 3, 0, "string", ANY_PART, "sender (before a notification's request)",
     "2 days (EX when the day's first is counted)"},
    /* one reader per partition's inbound stream keeps a citizen's messages in order
     * across gateways (store/gw_lease.h) */
    {GW_K_LEASE, "lease", 0, 0, "string", "each partition (its inbound stream's reader)",
     "reader's lease keeper (SET NX PX, renewed; value: the consumer name)",
     "[worker] claim_idle_ms after the last renewal"},
    {GW_K_GATEWAYS, "gateways", 0, 1, "zset",
     "its own (every gateway that reads inbound streams, shared)",
     "reader's lease keeper (heartbeat: member the consumer name, score its expiry in ms)",
     "members leave [worker] claim_idle_ms after their last heartbeat"},
    {GW_K_TEST_SENDS, "test_sends", 1, 0, "string", DEPT_PART,
     "API (POST /broadcasts/test: counted before the notification's write)",
     "the window's length after its first test send"},
};

const gw_key_spec *gw_keys_table(size_t *n) {
    if (n)
        *n = GW_K__COUNT;
    return table;
}

/* ---- CRC16 and slots ---- */

uint16_t gw_keys_crc16(const char *s, size_t len) {
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((unsigned char)s[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc;
}

unsigned gw_keys_slot(const char *key, size_t len) {
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t rest = len - (size_t)(open + 1 - key);
        const char *close = memchr(open + 1, '}', rest);
        if (close && close > open + 1) /* an empty tag "{}" hashes the whole key */
            return gw_keys_crc16(open + 1, (size_t)(close - open - 1)) % GW_KEYS_SLOTS;
    }
    return gw_keys_crc16(key, len) % GW_KEYS_SLOTS;
}

/* ---- partitions ---- */

struct gw_keyspace {
    unsigned n;                    /* partitions */
    char (*tags)[GW_KEYS_TAG_MAX]; /* tag of each partition */
    char *prelude;                 /* the Lua prelude, owned */
};

static char *build_prelude(void);

gw_keyspace *gw_keyspace_new(unsigned partitions) {
    if (partitions < 1 || partitions > GW_KEYS_MAX_PARTITIONS)
        return NULL;
    gw_keyspace *ks = calloc(1, sizeof *ks);
    if (!ks || !(ks->tags = calloc(partitions, sizeof *ks->tags))) {
        free(ks);
        return NULL;
    }
    ks->n = partitions;
    for (unsigned i = 0; i < partitions; i++) {
        /* The i-th range of slots is [i*S/n, (i+1)*S/n): look for a suffix that lands
         * there. Each try lands with probability 1/n, so this ends quickly. */
        unsigned lo = (unsigned)((uint64_t)i * GW_KEYS_SLOTS / partitions);
        unsigned hi = (unsigned)((uint64_t)(i + 1) * GW_KEYS_SLOTS / partitions);
        for (unsigned k = 0;; k++) {
            int len = snprintf(ks->tags[i], GW_KEYS_TAG_MAX, "p%u.%u", i, k);
            unsigned slot = gw_keys_crc16(ks->tags[i], (size_t)len) % GW_KEYS_SLOTS;
            if (slot >= lo && slot < hi)
                break;
        }
    }
    if (!(ks->prelude = build_prelude())) {
        gw_keyspace_free(ks);
        return NULL;
    }
    return ks;
}

void gw_keyspace_free(gw_keyspace *ks) {
    if (!ks)
        return;
    free(ks->tags);
    free(ks->prelude);
    free(ks);
}

unsigned gw_keyspace_partitions(const gw_keyspace *ks) {
    return ks ? ks->n : 1;
}

unsigned gw_keyspace_part_of(const gw_keyspace *ks, const char *s, size_t len) {
    return ks ? gw_keys_crc16(s, len) % ks->n : 0;
}

const char *gw_keyspace_tag(const gw_keyspace *ks, unsigned part) {
    return ks && part < ks->n ? ks->tags[part] : "";
}

long gw_keyspace_part_of_id(const gw_keyspace *ks, const char *id) {
    if (!ks || !id)
        return -1;
    long p = 0;
    size_t i = 0;
    for (; id[i] >= '0' && id[i] <= '9' && i < 5; i++)
        p = p * 10 + (id[i] - '0');
    if (i == 0 || id[i] != '-' || (i > 1 && id[0] == '0') || p >= (long)ks->n)
        return -1;
    return p;
}

static int vkey(const gw_keyspace *ks, char *out, size_t cap, gw_key_family f, unsigned part,
                va_list ap) {
    if (cap)
        *out = '\0';
    if ((unsigned)f >= GW_K__COUNT)
        return MC_EINVAL;
    const gw_key_spec *k = &table[f];
    const char *tag = k->own_tag ? k->family : gw_keyspace_tag(ks, part);
    if (!*tag || (k->own_tag != (part == GW_KEY_OWN)))
        return MC_EINVAL;
    int n = snprintf(out, cap, PREFIX "{%s}:%s", tag, k->family);
    for (int i = 0; i < k->arity && n >= 0 && (size_t)n < cap; i++) {
        const char *p = va_arg(ap, const char *);
        n += snprintf(out + n, cap - (size_t)n, ":%s", p ? p : "");
    }
    if (n < 0 || (size_t)n >= cap) {
        if (cap)
            *out = '\0';
        return MC_ETOOBIG;
    }
    return n;
}

int gw_key(const gw_keyspace *ks, char *out, size_t cap, gw_key_family f, unsigned part, ...) {
    va_list ap;
    va_start(ap, part);
    int n = vkey(ks, out, cap, f, part, ap);
    va_end(ap);
    return n;
}

void gw_argv_addkey(gw_argv *a, const gw_keyspace *ks, gw_key_family f, unsigned part, ...) {
    char buf[GW_KEYS_MAX];
    va_list ap;
    va_start(ap, part);
    int n = vkey(ks, buf, sizeof buf, f, part, ap);
    va_end(ap);
    if (n < 0) {
        a->oom = 1; /* a key that cannot be built must not be sent */
        return;
    }
    gw_argv_addf(a, "%s", buf);
}

/* ---- the Lua prelude ---- */

/* One function per partitioned family: K.<family>(part1, ...) is the key of the
 * partition of KEYS[1]. Own-tag families are not offered: a script touches one tag. */
static char *build_prelude(void) {
    size_t cap = 8192, n = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    n += (size_t)snprintf(out + n, cap - n,
                          "local P=string.match(KEYS[1] or '','^(" PREFIX "{[^}]*}:)') or ''\n"
                          "local K={}\n");
    static const char *const args[] = {"", "a", "a,b", "a,b,c"};
    static const char *const cat[] = {"", "..':'..a", "..':'..a..':'..b",
                                      "..':'..a..':'..b..':'..c"};
    for (int f = 0; f < GW_K__COUNT; f++) {
        const gw_key_spec *k = &table[f];
        if (k->own_tag || k->arity > 3)
            continue;
        int w = snprintf(out + n, cap - n, "function K.%s(%s) return P..'%s'%s end\n", k->family,
                         args[k->arity], k->family, cat[k->arity]);
        if (w < 0 || (size_t)w >= cap - n) {
            free(out);
            return NULL;
        }
        n += (size_t)w;
    }
    return out;
}

const char *gw_keys_lua_prelude(const gw_keyspace *ks) {
    return ks->prelude;
}
