/*
 * gw_shared.h — the read-only data several modules of a process need, taken once
 * from what the understanding engine already loaded: the wards of
 * vi-nlp/data/wards.csv (sorted the Vietnamese way, found by id or slug), the
 * procedure ids and names of intents/data/procedures.txt, and the Vietnamese
 * collation. Built by gw_serve before any module opens; shared, never copied.
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

#endif
