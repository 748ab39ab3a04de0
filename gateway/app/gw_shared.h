/*
 * gw_shared.h — the read-only data several modules of a process need, taken once
 * from what the understanding engine already loaded: the wards of
 * vi-nlp/data/wards.csv (sorted the Vietnamese way, found by id or slug), the
 * procedure ids and names of intents/data/procedures.txt, the issue categories of
 * intents/data/issue_categories.txt, and the Vietnamese collation; plus two files of
 * its own: the departments of the deployment ([admin] departments_file: their names,
 * the wards they serve and the report categories they handle) and the statuses of a
 * citizen's report (gateway/app/data/report_statuses.txt: the wording a citizen reads,
 * and the notification a status change sends). Built by gw_serve before any module
 * opens; shared, never copied.
 */
#ifndef GW_SHARED_H
#define GW_SHARED_H

#include "intents/nlu.h"

#include <stddef.h>

typedef struct gw_ward {
    const char *id;   /* "26743" */
    const char *name; /* "Bến Thành" */
    const char *slug; /* "ben-thanh-26743" */
} gw_ward;

typedef struct gw_shared gw_shared;

/* Takes the wards and procedures of e (borrowed: e must outlive the result) and opens
 * the Vietnamese collator. NULL with a reason in err. */
gw_shared *gw_shared_new(const nlu_engine *e, char *err, size_t errlen);
void gw_shared_free(gw_shared *s);

/* Wards in Vietnamese alphabetical order of their names (ties by id). */
size_t gw_shared_ward_count(const gw_shared *s);
const gw_ward *gw_shared_ward_at(const gw_shared *s, size_t i);
/* The ward whose id or slug is key, or NULL. */
const gw_ward *gw_shared_ward_find(const gw_shared *s, const char *key);

/* Procedures in catalog order. */
size_t gw_shared_procedure_count(const gw_shared *s);
const char *gw_shared_procedure_id(const gw_shared *s, size_t i);
const char *gw_shared_procedure_name(const gw_shared *s, size_t i);
/* 1 when id is a procedure of the catalog. */
int gw_shared_procedure_ok(const gw_shared *s, const char *id);

/* Vietnamese collation of two UTF-8 strings: <0, 0, >0 (strcmp's convention). */
int gw_shared_collate(const gw_shared *s, const char *a, const char *b);

/* The name of procedure id ("Đăng ký khai sinh"), or NULL. */
const char *gw_shared_procedure_name_of(const gw_shared *s, const char *id);
/* The citizen-facing name of issue category id ("rác thải, vệ sinh môi trường"), or NULL. */
const char *gw_shared_issue_name(const gw_shared *s, const char *id);
/* 1 when id is an issue category of the contract. */
int gw_shared_issue_ok(const gw_shared *s, const char *id);

/* ---- departments ([admin] departments_file) ---- */

#define GW_DEPTS_MAX 512     /* departments of one file */
#define GW_DEPT_ID_MAX 64    /* bytes of a department id (as the tokens file's) */
#define GW_DEPT_NAME_MAX 200 /* bytes of a department's name */

/*
 * Reads the departments file (path; "" reads nothing: no department has a name or
 * takes reports). Sections [<department id>] with `name = ...` (required), `areas =`
 * ward ids or slugs of wards.csv, comma-separated, or * (default: none), `reports =`
 * the issue categories whose reports it takes, or * (default: none). 0, or MC_EIO /
 * MC_EPARSE / MC_ENOMEM with "path:LINE: reason" in err.
 */
int gw_shared_load_departments(gw_shared *s, const char *path, char *err, size_t errlen);
/* The name of department id, or NULL when the file does not list it. */
const char *gw_shared_dept_name(const gw_shared *s, const char *id);
/*
 * The departments a report of category in ward_id (NULL: the ward is not known) goes
 * to: those whose reports include the category and whose areas include the ward (an
 * unknown ward: those serving every ward). Up to max ids into out (borrowed); returns
 * how many.
 */
size_t gw_shared_report_depts(const gw_shared *s, const char *ward_id, const char *category,
                              const char **out, size_t max);

/* ---- the statuses of a citizen's report (report_statuses.txt) ---- */

#define GW_REPORT_STATUS_MAX 32 /* bytes of a status id, with its NUL */

/* Reads the file: `status <id> = <wording>` (final_status for those that close a
 * report), `template report_event = ...` ({ticket} {status}), `template
 * report_event_note = ...` ({ticket} {status} {note}); the first status is the one a
 * new report has. 0, or MC_E* with "path:LINE: reason" in err. */
int gw_shared_load_report_statuses(gw_shared *s, const char *path, char *err, size_t errlen);
/* The wording of a report status, or NULL when unknown. */
const char *gw_shared_report_status_text(const gw_shared *s, const char *id);
/* 1 when the status closes a report (final_status). */
int gw_shared_report_status_final(const gw_shared *s, const char *id);
/* The statuses that close a report, comma-separated, into out. */
void gw_shared_report_finals(const gw_shared *s, char *out, size_t n);
/* The statuses, in file order: i < gw_shared_report_status_count(). */
size_t gw_shared_report_status_count(const gw_shared *s);
const char *gw_shared_report_status_at(const gw_shared *s, size_t i);
/* The status of a new report ("received"). */
const char *gw_shared_report_first_status(const gw_shared *s);
/* The text of the notification of a status change: {ticket} {status} and, when note is
 * not empty, {note} filled; a new string the caller frees, or NULL (OOM). */
char *gw_shared_report_event_text(const gw_shared *s, const char *ticket, const char *status,
                                  const char *note);

#endif
