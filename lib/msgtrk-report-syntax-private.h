/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-report-syntax-private.h: the internal half of the report syntax layer
 * (msgtrk-report-syntax.c): the ordered field list, the field-block parser and the
 * folding writer, and the typed values inside fields (RFC 3464, RFC 3886, RFC 8098).
 *
 * What: MsgtrkReportField lists (the one source of truth of MsgtrkReport and
 * MsgtrkRecipientReport), msgtrk_report_blocks_parse() / msgtrk_report_block_write() for
 * the blocks, and a parser and a writer for each typed value: address-type ";" address
 * and mta-name-type ";" mta-name, status-code [comment], the disposition; the Action
 * words are public API, declared in msgtrk-report.h.
 * Limits: MSGTRK_REPORT_MAX_RECIPIENTS blocks after the first, MSGTRK_REPORT_MAX_FIELDS
 * fields per block, MSGTRK_REPORT_MAX_FIELD_LENGTH octets per unfolded field.
 * Never: does I/O; keeps state outside the caller's structs.
 *
 * Internal to msgtrk (lib, tests): not installed, not part of the documented API.
 */
#pragma once

#include <glib.h>

#include "msgtrk-error.h"
#include "msgtrk-report.h"

G_BEGIN_DECLS

/* Fold written lines at this width where whitespace allows (RFC 5322 section 2.1.1). */
#define MSGTRK_REPORT_FOLD_WIDTH 78

typedef struct
{
  char *name;  /* (owned) as written, ASCII, 33..126 without ':' */
  char *value; /* (owned) unfolded, trimmed, valid UTF-8, no control characters but TAB */
} MsgtrkReportField;

typedef enum
{
  MSGTRK_REPORT_SYNTAX_TEXT,   /* anything */
  MSGTRK_REPORT_SYNTAX_TYPED,  /* type ";" value */
  MSGTRK_REPORT_SYNTAX_STATUS, /* status-code [comment] */
  MSGTRK_REPORT_SYNTAX_ACTION, /* non-empty */
  MSGTRK_REPORT_SYNTAX_DISPOSITION,
} MsgtrkReportFieldSyntax;

typedef struct
{
  const char *name;
  gboolean singleton;
  MsgtrkReportFieldSyntax syntax;
} MsgtrkReportKnownField;

extern const MsgtrkReportKnownField msgtrk_report_message_fields[14];
extern const MsgtrkReportKnownField msgtrk_report_recipient_fields[10];

/* ---- the field list ----------------------------------------------------------------- */

void                          msgtrk_report_field_free           (gpointer     data);
MsgtrkReportField            *msgtrk_report_field_new_take       (char        *name,
                                                                  char        *value);
GPtrArray                    *msgtrk_report_fields_new           (void);
MsgtrkReportField            *msgtrk_report_fields_lookup        (GPtrArray   *fields,
                                                                  const char  *name);
const char                   *msgtrk_report_fields_get           (GPtrArray   *fields,
                                                                  const char  *name);
void                          msgtrk_report_fields_set           (GPtrArray   *fields,
                                                                  const char  *name,
                                                                  const char  *value);
char                        **msgtrk_report_fields_list_names    (GPtrArray   *fields);
gboolean                      msgtrk_report_field_name_is_valid  (const char  *name);
char                         *msgtrk_report_value_normalize      (const char  *value);
char                         *msgtrk_report_strndup_trimmed      (const char  *start,
                                                                  const char  *end);
const MsgtrkReportKnownField *msgtrk_report_known_field_lookup   (
  const MsgtrkReportKnownField *table,
  gsize                         n,
  const char                   *name);
const MsgtrkReportKnownField *msgtrk_report_known_field_any      (const char  *name);

/* ---- blocks of fields --------------------------------------------------------------- */

/* The field being read, until the next field line, blank line or end. */
typedef struct
{
  GPtrArray *block; /* (unowned) where it goes */
  char *name;       /* (owned) (nullable) NULL when no field is open */
  GString *value;   /* (owned) raw unfolded value */
  guint line;       /* line of the field name */
} MsgtrkReportPendingField;

/* An incremental block parser: init, feed pieces of any size, finish, clear. */
typedef struct
{
  const char *what;                 /* (unowned) for error messages */
  GPtrArray *blocks;                /* (owned) (element-type GPtrArray) */
  GPtrArray *block;                 /* (unowned) (nullable) the open block */
  MsgtrkReportPendingField pending; /* the field being read */
  GString *line;                    /* (owned) the line being cut, no line end yet */
  guint line_no;
  gboolean failed;
} MsgtrkReportBlockParser;

void       msgtrk_report_block_parser_init   (MsgtrkReportBlockParser *parser,
                                              const char              *what);
gboolean   msgtrk_report_block_parser_feed   (MsgtrkReportBlockParser *parser,
                                              const char              *data,
                                              gsize                    len,
                                              GError                 **error);
GPtrArray *msgtrk_report_block_parser_finish (MsgtrkReportBlockParser *parser,
                                              GError                 **error);
void       msgtrk_report_block_parser_clear  (MsgtrkReportBlockParser *parser);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (MsgtrkReportBlockParser, msgtrk_report_block_parser_clear)


GPtrArray *msgtrk_report_blocks_parse (const char                   *data,
                                       gsize                         len,
                                       const char                   *what,
                                       GError                      **error);
void       msgtrk_report_field_write  (GString                      *out,
                                       const char                   *name,
                                       const char                   *value);
void       msgtrk_report_block_write  (GString                      *out,
                                       GPtrArray                    *fields,
                                       const MsgtrkReportKnownField *table,
                                       gsize                         table_len,
                                       GPtrArray                    *skip);

/* ---- typed values ------------------------------------------------------------------- */

gboolean msgtrk_report_typed_parse          (const char         *value,
                                             char              **type_out,
                                             char              **rest_out);
void     msgtrk_report_typed_parse_tolerant (const char         *value,
                                             char              **type_out,
                                             char              **rest_out);
gboolean msgtrk_report_status_code_parse    (const char         *value,
                                             guint              *cls,
                                             guint              *subject,
                                             guint              *detail,
                                             gsize              *code_len,
                                             char              **comment);
gboolean msgtrk_report_disposition_parse    (const char         *value,
                                             MsgtrkDisposition  *type_out,
                                             char              **type_text_out);
char    *msgtrk_report_typed_write          (const char         *type,
                                             const char         *value);
char    *msgtrk_report_status_code_write    (const char         *code,
                                             const char         *comment,
                                             GError            **error);
char    *msgtrk_report_disposition_write    (const char         *action_mode,
                                             const char         *sending_mode,
                                             const char         *type);

G_END_DECLS
