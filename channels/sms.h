/*
 * sms.h — the SMS adapter (../shared/spec/channels.md): Twilio-style form
 * webhooks and status callbacks, Kannel get-url and DLR callbacks, sending
 * through Twilio's Messages API or Kannel's sendsms, GSM 03.38 / UCS-2 segment
 * counting, and Vietnamese phone numbers to E.164.
 */
#ifndef CH_SMS_H
#define CH_SMS_H

#include "channels/ch.h"

#define SMS_GSM_SINGLE 160       /* GSM-7 septets in a single SMS */
#define SMS_GSM_PART 153         /* ... per part of a concatenated SMS (6-byte UDH) */
#define SMS_UCS2_SINGLE 70       /* UCS-2 units in a single SMS */
#define SMS_UCS2_PART 67         /* ... per part of a concatenated SMS */
#define SMS_HARD_MAX_SEGMENTS 10 /* never send more, whatever max_segments says */
#define SMS_MAX_PARAMS 64        /* form/query parameters we look at in one webhook */
#define SMS_DLR_MASK "31"        /* Kannel: every report (1+2+4+8+16) */
#define SMS_VN_COUNTRY "84"      /* Vietnam's calling code */

/* What a text costs as SMS. */
typedef struct ch_sms_info {
    const char *encoding; /* "GSM-7" or "UCS-2" (static) */
    size_t chars;         /* code points */
    size_t units;         /* GSM-7 septets (extension characters count 2) or UTF-16 units */
    int segments;         /* SMS parts the text costs (0 for an empty text) */
} ch_sms_info;

extern const ch_adapter ch_sms_adapter;

/*
 * Counts a UTF-8 text: GSM-7 when every character is in the GSM 03.38 basic or
 * extension table, else UCS-2; segments 160/153 or 70/67 (an escape or surrogate
 * pair is never split across parts). MC_EUTF8 for invalid UTF-8.
 */
int ch_sms_count(const char *text, size_t len, ch_sms_info *out);

/*
 * The distinct characters of a UTF-8 text that are in neither GSM 03.38 table (those
 * that make it UCS-2), in order of first use, into out (UTF-8, NUL-terminated; a
 * character that does not fit whole is left out). Returns how many there are in all
 * (possibly more than out holds), or MC_EUTF8 for invalid UTF-8.
 */
int ch_sms_culprits(const char *text, size_t len, char *out, size_t cap);

/*
 * Writes a phone number as E.164 when it is Vietnamese in a local form
 * ("0912 345 678", "84912345678", "0084912345678" → "+84912345678"); other numbers
 * (foreign E.164, short codes, brand names) are copied unchanged. Spaces, dots and
 * dashes are dropped from numbers. MC_EINVAL for an empty or too long input.
 */
int ch_sms_normalize_phone(const char *in, size_t len, char *out, size_t cap);

#endif
