/*
 * gw_apikeys.c — a department's API keys, for its admins (shared/spec/officers.md):
 * POST /keys {"name","scopes":[...],"areas":[...]} → 201 with the token, shown once;
 * GET /keys → each key's name, scopes, areas, who made it and when, its last use (and
 * the department's tokens of [admin] tokens_file, listed as such); DELETE /keys/{name}
 * revokes it at once.
 *
 * Big idea: a key is stored as the SHA-256 of its token only, in the department's
 * partition (apikeys: hash → name; apikey: the record), and its token names the
 * department ("mck1.<dept>.<hex>"), so gw_auth.c finds its record with one script and no
 * process keeps a copy: DELETE is the next request's 401, everywhere.
 */
#include "gateway/api/gw_api_int.h"

#include "core/mc.h"
#include "gateway/app/gw_log.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILE_PREFIX "file-" /* names of the tokens of the file (gw_api.c) */
#define SCOPES_CSV_MAX 96   /* a key's scopes, comma-separated */
#define AREAS_CSV_MAX (GW_API_MAX_AREAS * GW_API_ID_MAX)

/* KEYS[1] the index, KEYS[2] the record; ARGV hash, name, scopes, areas, by, now. 1 made;
 * 0 a key of that name exists. */
static const char create_lua[] =
    "if redis.call('HEXISTS',KEYS[2],'hash')==1 then return 0 end\n"
    "redis.call('HSET',KEYS[2],'hash',ARGV[1],'scopes',ARGV[3],'areas',ARGV[4],\n"
    "  'created_by',ARGV[5],'created_ms',ARGV[6])\n"
    "redis.call('HSET',KEYS[1],ARGV[1],ARGV[2])\n"
    "return 1\n";

/* KEYS[1] the index, KEYS[2] the record. {-2} none; {1, scopes, areas}: revoked. */
static const char revoke_lua[] = "local r=redis.call('HMGET',KEYS[2],'hash','scopes','areas')\n"
                                 "if not r[1] then return {-2} end\n"
                                 "redis.call('HDEL',KEYS[1],r[1])\n"
                                 "redis.call('DEL',KEYS[2])\n"
                                 "return {1,r[2] or '',r[3] or ''}\n";

/* KEYS[1] the index; ARGV dept, then the names of the file's tokens. {name, scopes, areas,
 * created_by, created_ms, last_used_ms} for each key, then {name, last_used_ms} for each
 * file token: {n keys, ...}. */
static const char list_lua[] =
    "local out={0}\n"
    "local names={}\n"
    "for _,n in pairs(redis.call('HVALS',KEYS[1])) do names[#names+1]=n end\n"
    "table.sort(names)\n"
    "for _,n in ipairs(names) do\n"
    "  local r=redis.call('HMGET',K.apikey(ARGV[1],n),'scopes','areas','created_by',\n"
    "    'created_ms','last_used_ms')\n"
    "  if r[1] then\n"
    "    out[1]=out[1]+1\n"
    "    out[#out+1]=n\n"
    "    for i=1,5 do out[#out+1]=r[i] or '' end\n"
    "  end\n"
    "end\n"
    "for i=2,#ARGV do\n"
    "  out[#out+1]=ARGV[i]\n"
    "  out[#out+1]=redis.call('HGET',K.apikey(ARGV[1],ARGV[i]),'last_used_ms') or ''\n"
    "end\n"
    "return out\n";

/* One POST /keys. */
typedef struct key_req {
    char name[GW_OFF_KEY_NAME_MAX + 1]; /* the key's name */
    char scopes[SCOPES_CSV_MAX];        /* its scopes, comma-separated */
    char areas[AREAS_CSV_MAX];          /* "*" or ward ids, comma-separated */
    char token[GW_OFF_KEY_MAX];         /* the token, shown once */
} key_req;

static void key_req_clear(void *p) {
    OPENSSL_cleanse(p, sizeof(key_req));
}

/* "a,b" as a JSON array (new reference). */
static json_t *csv_json(const char *csv) {
    json_t *arr = json_array();
    for (const char *p = csv; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t l = comma ? (size_t)(comma - p) : strlen(p);
        json_array_append_new(arr, json_stringn(p, l));
        p += l + (comma != NULL);
    }
    return arr;
}

static json_t *time_json(const gw_api *a, const char *ms) {
    long long v = ms ? strtoll(ms, NULL, 10) : 0;
    if (v <= 0)
        return json_null();
    char t[GW_API_TIME_MAX];
    gw_api_format_time(a, v, t, sizeof t);
    return json_string(t);
}

/* ----------------------------------------------------------------- create */

/* The strings of an array field into csv, each checked by ok (which writes its canonical
 * form): 0 or MC_EINVAL with e. */
static int check_scopes(const json_t *arr, char *csv, size_t n, gw_api_err *e) {
    size_t i;
    json_t *v;
    unsigned seen = 0;
    csv[0] = '\0';
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > 8)
        return gw_api_err_set(e, 400, arr ? "bad_field" : "missing_field", "scopes",
                              "scopes is an array of dossiers:write, notify, broadcast, read");
    json_array_foreach(arr, i, v) {
        char path[32];
        unsigned bit = 0;
        snprintf(path, sizeof path, "scopes[%zu]", i);
        const char *s = json_string_value(v);
        if (!s || strchr(s, ',') || gw_api_scopes_parse(s, &bit) || !bit)
            return gw_api_err_set(e, 400, "bad_field", path, "unknown scope");
        if (seen & bit)
            return gw_api_err_set(e, 400, "bad_field", path, "listed twice");
        seen |= bit;
        size_t used = strlen(csv);
        snprintf(csv + used, n - used, "%s%s", used ? "," : "", s);
    }
    return 0;
}

static int check_areas(const gw_api *a, const gw_api_token *t, const json_t *arr, char *csv,
                       size_t n, gw_api_err *e) {
    size_t i;
    json_t *v;
    csv[0] = '\0';
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > GW_API_MAX_AREAS)
        return gw_api_err_set(e, 400, arr ? "bad_field" : "missing_field", "areas",
                              "areas is an array of 1..%d ward ids, or [\"*\"]", GW_API_MAX_AREAS);
    json_array_foreach(arr, i, v) {
        char path[32];
        snprintf(path, sizeof path, "areas[%zu]", i);
        const char *s = json_string_value(v);
        if (s && !strcmp(s, "*") && json_array_size(arr) == 1) {
            if (!gw_api_token_area_ok(t, "*"))
                return gw_api_err_set(e, 403, "forbidden", path,
                                      "only an admin of every ward may give every ward");
            snprintf(csv, n, "*");
            return 0;
        }
        const gw_ward *w = s ? gw_shared_ward_find(gw_api_data(a), s) : NULL;
        if (!w)
            return gw_api_err_set(e, 400, "bad_field", path, "unknown ward");
        if (!gw_api_token_area_ok(t, w->id))
            return gw_api_err_set(e, 403, "forbidden", path, "%s",
                                  "outside the areas of this department");
        char needle[GW_API_ID_MAX + 3], hay[AREAS_CSV_MAX + 3];
        snprintf(needle, sizeof needle, ",%s,", w->id);
        snprintf(hay, sizeof hay, ",%s,", csv);
        size_t used = strlen(csv);
        if (used && strstr(hay, needle))
            return gw_api_err_set(e, 400, "bad_field", path, "listed twice");
        if (used + strlen(w->id) + 2 > n)
            return gw_api_err_set(e, 400, "bad_field", "areas", "too many areas");
        snprintf(csv + used, n - used, "%s%s", used ? "," : "", w->id);
    }
    return 0;
}

static int check_create(gw_api_op *o, gw_api_err *e) {
    static const char *const allowed[] = {"name", "scopes", "areas", NULL};
    key_req *k = o->res;
    const char *name;
    size_t nlen;
    if (gw_api_only_fields(e, o->body, allowed, "", GW_API_CUT) ||
        gw_api_str_field(e, o->body, "name", "name", GW_OFF_KEY_NAME_MAX, true, &name, &nlen))
        return MC_EINVAL;
    if (!gw_off_key_name_ok(name, nlen) || !strncmp(name, FILE_PREFIX, sizeof FILE_PREFIX - 1))
        return gw_api_err_set(e, 400, "bad_field", "name",
                              "a key's name is 1..%d of a-z, A-Z, 0-9, '.', '_', '-' (not "
                              "starting with " FILE_PREFIX ")",
                              GW_OFF_KEY_NAME_MAX);
    snprintf(k->name, sizeof k->name, "%s", name);
    return check_scopes(json_object_get(o->body, "scopes"), k->scopes, sizeof k->scopes, e) ||
                   check_areas(o->api, o->t, json_object_get(o->body, "areas"), k->areas,
                               sizeof k->areas, e)
               ? MC_EINVAL
               : 0;
}

const gw_api_body_check gw_apikey_body = {"API key", sizeof(key_req), key_req_clear, check_create};

static void on_created(gw_api_op *o, const redisReply *r) {
    key_req *k = o->res;
    if (r->integer != 1) {
        gw_api_fail(o->rq, 409, "conflict", "name", "a key named %s exists", k->name);
        return;
    }
    char by[GW_API_ACTOR_MAX];
    gw_api_token_actor(o->t, by, sizeof by);
    gw_log(GW_INFO, "admin.key_created", "{s:s, s:s, s:s}", "dept", o->dept, "name", k->name, "by",
           by);
    gw_audit_op(
        o, "key.create", k->name,
        json_pack("{s:o, s:o}", "scopes", csv_json(k->scopes), "areas", csv_json(k->areas)));
    char at[GW_API_TIME_MAX];
    gw_api_format_time(o->api, o->now, at, sizeof at);
    gw_api_answer(o->rq, 201,
                  json_pack("{s:s, s:s, s:o, s:o, s:s, s:s}", "name", k->name, "token", k->token,
                            "scopes", csv_json(k->scopes), "areas", csv_json(k->areas),
                            "created_by", by, "created_at", at));
}

static void create(const gw_api *a, gw_req *rq, const gw_api_token *t) {
    gw_api_op *o = gw_api_op_checked(a, rq, t, sizeof(key_req), key_req_clear, check_create);
    if (!o)
        return;
    key_req *k = o->res;
    char hash[GW_API_HASH_HEX], by[GW_API_ACTOR_MAX];
    if (gw_off_key_new(o->dept, k->token)) {
        gw_api_fail(rq, 500, "internal", NULL, "cannot make a key for this department");
        gw_api_op_free(o);
        return;
    }
    gw_api_sha256_hex(k->token, strlen(k->token), hash);
    gw_api_token_actor(t, by, sizeof by);
    gw_argv av = GW_API_EVAL(a, create_lua, 2);
    gw_api_add_dept_key(&av, a, GW_K_APIKEYS, o->dept);
    gw_api_add_dept_key_part(&av, a, GW_K_APIKEY, o->dept, k->name);
    gw_argv_adds(&av, hash);
    gw_argv_adds(&av, k->name);
    gw_argv_adds(&av, k->scopes);
    gw_argv_adds(&av, k->areas);
    gw_argv_adds(&av, by);
    gw_argv_addf(&av, "%" PRId64, o->now);
    gw_api_op_send(o, &av, GW_API_INT, on_created);
}

/* ------------------------------------------------------------------- list */

static const char *str_at(const redisReply *r, size_t i) {
    return i < r->elements && r->element[i]->type == REDIS_REPLY_STRING ? r->element[i]->str : "";
}

static void on_list(gw_api_op *o, const redisReply *r) {
    json_t *list = json_array();
    long long n = r->element[0]->integer;
    size_t i = 1;
    for (long long k = 0; k < n && i + 6 <= r->elements; k++, i += 6)
        json_array_append_new(
            list, json_pack("{s:s, s:s, s:o, s:o, s:s, s:o, s:o}", "name", str_at(r, i), "source",
                            "api", "scopes", csv_json(str_at(r, i + 1)), "areas",
                            csv_json(str_at(r, i + 2)), "created_by", str_at(r, i + 3),
                            "created_at", time_json(o->api, str_at(r, i + 4)), "last_used",
                            time_json(o->api, str_at(r, i + 5))));
    const gw_api_token *file[GW_API_MAX_TOKENS];
    size_t nf = gw_api_file_tokens(o->api, o->dept, file, MC_ARRAY_LEN(file));
    for (size_t f = 0; f < nf; f++, i += 2) {
        json_t *e = json_pack("{s:s, s:s, s:o, s:o, s:n, s:n, s:o}", "name",
                              gw_api_token_name(file[f]), "source", "tokens_file", "scopes",
                              gw_api_scopes_json(gw_api_token_scopes(file[f])), "areas",
                              gw_api_areas_json(file[f]), "created_by", "created_at", "last_used",
                              time_json(o->api, str_at(r, i + 1)));
        json_array_append_new(list, e);
    }
    gw_api_answer(o->rq, 200, json_pack("{s:o}", "keys", list));
}

static void list(const gw_api *a, gw_req *rq, const gw_api_token *t) {
    gw_api_op *o = gw_api_op_new(a, rq, t);
    if (!o)
        return;
    const gw_api_token *file[GW_API_MAX_TOKENS];
    size_t nf = gw_api_file_tokens(a, o->dept, file, MC_ARRAY_LEN(file));
    gw_argv av = GW_API_EVAL(a, list_lua, 1);
    gw_api_add_dept_key(&av, a, GW_K_APIKEYS, o->dept);
    gw_argv_adds(&av, o->dept);
    for (size_t f = 0; f < nf; f++)
        gw_argv_adds(&av, gw_api_token_name(file[f]));
    gw_api_op_send(o, &av, GW_API_STATUS, on_list);
}

void gw_apikeys_list(const gw_api *a, gw_req *rq, const gw_api_token *t) {
    if (!strcmp(gw_req_method(rq), "POST"))
        create(a, rq, t);
    else
        list(a, rq, t);
}

/* ----------------------------------------------------------------- revoke */

static void on_revoked(gw_api_op *o, const redisReply *r) {
    if (r->element[0]->integer != 1 || r->elements < 3) {
        gw_api_fail(o->rq, 404, "not_found", NULL, "no key %s", o->id);
        return;
    }
    gw_log(GW_INFO, "admin.key_revoked", "{s:s, s:s}", "dept", o->dept, "name", o->id);
    gw_audit_op(
        o, "key.revoke", o->id,
        json_pack("{s:o, s:o}", "scopes", csv_json(str_at(r, 1)), "areas", csv_json(str_at(r, 2))));
    gw_api_answer(o->rq, 200, json_pack("{s:s, s:b}", "name", o->id, "revoked", 1));
}

void gw_apikeys_item(const gw_api *a, gw_req *rq, const gw_api_token *t) {
    const char *name = gw_api_path_rest(rq, GW_API_PREFIX "keys/");
    size_t len = strlen(name);
    if (!strncmp(name, FILE_PREFIX, sizeof FILE_PREFIX - 1)) {
        gw_api_fail(rq, 409, "conflict", NULL,
                    "a token of [admin] tokens_file is revoked by removing its line and "
                    "restarting the gateway");
        return;
    }
    if (!gw_off_key_name_ok(name, len)) {
        gw_api_fail(rq, 404, "not_found", NULL, "no such key");
        return;
    }
    gw_api_op *o = gw_api_op_new(a, rq, t);
    if (!o)
        return;
    snprintf(o->id, sizeof o->id, "%s", name);
    gw_argv av = GW_API_EVAL(a, revoke_lua, 2);
    gw_api_add_dept_key(&av, a, GW_K_APIKEYS, o->dept);
    gw_api_add_dept_key_part(&av, a, GW_K_APIKEY, o->dept, name);
    gw_api_op_send(o, &av, GW_API_STATUS, on_revoked);
}
