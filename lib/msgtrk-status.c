/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-status.c: from all reports about one message to each recipient's state and a
 * one-line summary for a status column ("Delivered 2/3, 1 delayed").
 *
 * What it is for:
 *   - MsgtrkStatus collects "evidence": one entry per recipient block of every report
 *     (MTQP tracking-status from any hop, DSN, MDN), and derives from the whole set, never
 *     from the order of arrival, each recipient's MsgtrkRecipientState, the report entry
 *     that decided it, an overall state and a translated summary;
 *   - msgtrk_address_normalize(): the one way addresses are compared;
 *   - the stable string identifiers of MsgtrkRecipientState (JSON, D-Bus).
 *
 * The rules are written down in docs/status.md. In this file they live in exactly two
 * places: the table state_rules[] (tier, tie rank, overall rank of each state) and
 * select_decider() (which evidence decides); everything else only collects and counts.
 *
 * Limits: MSGTRK_STATUS_MAX_EVIDENCE entries of evidence (one per reporter and recipient
 * address; a newer word from the same reporter replaces the older one, so repeated polls
 * do not grow it). Past the limit new reporters are ignored, and only then can the result
 * depend on the order of arrival.
 *
 * Must never: depend on the order in which reports arrive (below the limit); trust a
 * report's addresses or host names as anything but text to compare; do I/O. Not
 * thread-safe: one MsgtrkStatus is used from one thread at a time.
 */
#include "config.h"

#include <string.h>

#include "msgtrk-private.h"

/* How much a piece of evidence says, from least to most. Higher tiers win outright. */
typedef enum
{
  TIER_NONE = 0,        /* no usable state (unknown Action): shown only if nothing else */
  TIER_MOVING,          /* in transit, delayed: may change */
  TIER_END_OF_TRACKING, /* relayed, opaque: tracking ends, the outcome is not known */
  TIER_OUTCOME,         /* delivered, failed, said by an MTA */
  TIER_MDN_PROOF,       /* an MDN other than "displayed": the recipient's agent has it */
  TIER_READ,            /* an MDN "displayed" */
} Tier;

typedef struct
{
  const char *id;       /* stable identifier (JSON, D-Bus) */
  gboolean is_final;    /* no further news expected */
  Tier tier;            /* tier of this state when an MTA reports it */
  guint tie_rank;       /* same tier and same date: the higher rank wins */
  guint overall_rank;   /* overall state: the lowest rank any recipient has wins */
} StateRule;

/* THE precedence table; docs/status.md "Precedence" and "Overall state" mirror it. */
static const StateRule state_rules[] = {
  [MSGTRK_RECIPIENT_STATE_UNKNOWN] = { "unknown", FALSE, TIER_NONE, 0, 2 },
  [MSGTRK_RECIPIENT_STATE_IN_TRANSIT] = { "in-transit", FALSE, TIER_MOVING, 0, 2 },
  [MSGTRK_RECIPIENT_STATE_DELAYED] = { "delayed", FALSE, TIER_MOVING, 1, 1 },
  [MSGTRK_RECIPIENT_STATE_RELAYED] = { "relayed", TRUE, TIER_END_OF_TRACKING, 1, 4 },
  [MSGTRK_RECIPIENT_STATE_OPAQUE] = { "opaque", TRUE, TIER_END_OF_TRACKING, 0, 3 },
  [MSGTRK_RECIPIENT_STATE_DELIVERED] = { "delivered", TRUE, TIER_OUTCOME, 0, 5 },
  [MSGTRK_RECIPIENT_STATE_FAILED] = { "failed", TRUE, TIER_OUTCOME, 1, 0 },
  [MSGTRK_RECIPIENT_STATE_READ] = { "read", TRUE, TIER_READ, 0, 6 },
};

#define N_STATES G_N_ELEMENTS (state_rules)

G_STATIC_ASSERT (N_STATES == MSGTRK_RECIPIENT_STATE_READ + 1);

static gboolean
state_is_valid (MsgtrkRecipientState state)
{
  return (guint) state < N_STATES;
}

/**
 * msgtrk_recipient_state_to_string:
 * @state: a recipient state
 *
 * The stable lower-case identifier of @state, as used in JSON and on D-Bus: "unknown",
 * "in-transit", "delayed", "relayed", "opaque", "delivered", "failed" or "read". These never
 * change and are never translated.
 *
 * Returns: (transfer none): the identifier
 *
 * Since: 1.0
 */
const char *
msgtrk_recipient_state_to_string (MsgtrkRecipientState state)
{
  g_return_val_if_fail (state_is_valid (state), NULL);

  return state_rules[state].id;
}

/**
 * msgtrk_recipient_state_from_string:
 * @text: (nullable): an identifier as returned by msgtrk_recipient_state_to_string()
 * @out_state: (out) (optional): where to store the state
 *
 * The inverse of msgtrk_recipient_state_to_string(). Matching is exact (lower case, no
 * spaces): these identifiers come from programs, not from people.
 *
 * Returns: %TRUE if @text is one of the identifiers; %FALSE otherwise, and then
 *   @out_state is set to %MSGTRK_RECIPIENT_STATE_UNKNOWN
 *
 * Since: 1.0
 */
gboolean
msgtrk_recipient_state_from_string (const char           *text,
                                    MsgtrkRecipientState *out_state)
{
  guint i;

  if (out_state != NULL)
    *out_state = MSGTRK_RECIPIENT_STATE_UNKNOWN;
  if (text == NULL)
    return FALSE;

  for (i = 0; i < N_STATES; i++)
    {
      if (strcmp (text, state_rules[i].id) == 0)
        {
          if (out_state != NULL)
            *out_state = (MsgtrkRecipientState) i;
          return TRUE;
        }
    }
  return FALSE;
}

/**
 * msgtrk_recipient_state_is_final:
 * @state: a recipient state
 *
 * Whether no further news is expected for a recipient in @state: %TRUE for relayed,
 * opaque, delivered, failed and read; %FALSE for unknown, in-transit and delayed.
 * A tracker stops polling for a recipient whose state is final (a read receipt may still
 * arrive later and turn delivered into read).
 *
 * Returns: whether @state is final
 *
 * Since: 1.0
 */
gboolean
msgtrk_recipient_state_is_final (MsgtrkRecipientState state)
{
  g_return_val_if_fail (state_is_valid (state), FALSE);

  return state_rules[state].is_final;
}

/* Whether @c may appear in an address type ("rfc822", "utf-8"): RFC 3464 atom. */
static gboolean
is_type_char (char c)
{
  return g_ascii_isalnum (c) || c == '-' || c == '.' || c == '_' || c == ' ' || c == '\t';
}

/**
 * msgtrk_address_normalize:
 * @address: (nullable): an address as a report or a user gives it, e.g.
 *   `rfc822; <Jane@Example.ORG>`
 *
 * The one normal form in which libmsgtrk stores and shows recipient addresses:
 *
 * - an address type prefix `rfc822;` or `utf-8;` (RFC 3464, RFC 6533; any case) is
 *   removed; text with any other type before a `;` is not an Internet mail address and
 *   gives %NULL;
 * - white space around it and one pair of angle brackets are removed;
 * - the domain (after the last `@`) is lower-cased; the local part is kept as given,
 *   since it may be case-sensitive in theory.
 *
 * Recipients are *matched* more loosely than this: MsgtrkStatus compares whole normalised
 * addresses case-insensitively, local part included, because in practice no mail system
 * gives two mailboxes names that differ only in case, and reports often change the case.
 *
 * Returns: (transfer full) (nullable): the normalised address, or %NULL if @address is
 *   %NULL, empty, not valid UTF-8, contains control characters or has an unknown type
 *
 * Since: 1.0
 */
char *
msgtrk_address_normalize (const char *address)
{
  const char *p;
  const char *semi;
  g_autofree char *text = NULL;
  char *s;
  gsize len;
  const char *at;

  if (address == NULL || !g_utf8_validate (address, -1, NULL))
    return NULL;

  /* Address-type prefixes, possibly repeated ("rfc822; rfc822; a@b" from a sloppy
   * writer); a ";" after a character that cannot be in a type belongs to the address. */
  p = address;
  while ((semi = strchr (p, ';')) != NULL)
    {
      const char *q;
      gboolean is_type = TRUE;
      g_autofree char *type = NULL;

      for (q = p; q < semi; q++)
        if (!is_type_char (*q))
          is_type = FALSE;
      if (!is_type)
        break;
      type = g_strstrip (g_strndup (p, (gsize) (semi - p)));
      if (g_ascii_strcasecmp (type, "rfc822") != 0 && g_ascii_strcasecmp (type, "utf-8") != 0)
        return NULL;
      p = semi + 1;
    }

  text = g_strstrip (g_strdup (p));
  len = strlen (text);
  if (len >= 2 && text[0] == '<' && text[len - 1] == '>')
    {
      text[len - 1] = '\0';
      memmove (text, text + 1, len - 1);
      g_strstrip (text);
    }
  if (*text == '\0')
    return NULL;

  for (s = text; *s != '\0'; s++)
    if ((guchar) *s < 0x20 || *s == 0x7f)
      return NULL;

  at = strrchr (text, '@');
  if (at == NULL || at[1] == '\0')
    return g_steal_pointer (&text);

  {
    g_autofree char *domain = g_utf8_strdown (at + 1, -1);

    return g_strdup_printf ("%.*s@%s", (int) (at - text), text, domain);
  }
}

/* Matching key of a normalised address: case-folded as a whole. */
static char *
address_key (const char *normalized)
{
  return normalized != NULL ? g_utf8_casefold (normalized, -1) : NULL;
}

/* Normal form of an MTA name for comparison: no "dns;" type, lower case, no final dot. */
static char *
mta_normalize (const char *text)
{
  const char *semi;
  char *s;
  gsize len;

  if (text == NULL)
    return g_strdup ("");
  semi = strchr (text, ';');
  if (semi != NULL)
    text = semi + 1;
  s = g_strstrip (g_ascii_strdown (text, -1));
  len = strlen (s);
  while (len > 0 && s[len - 1] == '.')
    s[--len] = '\0';
  return s;
}

/* One recipient block of one report, as far as the state is concerned. */
typedef struct
{
  char *key;                    /* (owned) supersession key: source, addresses, disposition */
  char *source;                 /* (owned) "mta:<host>" or "mdn:<user agent>" */
  char *mta;                    /* (owned) normalised Reporting-MTA; "" for none and MDNs */
  char *next_mta;               /* (owned) (nullable) Remote-MTA of transferred/relayed */
  char *orcpt;                  /* (owned) (nullable) normalised Original-Recipient */
  char *final;                  /* (owned) (nullable) normalised Final-Recipient */
  char *orcpt_key;              /* (owned) (nullable) address_key (orcpt) */
  char *final_key;              /* (owned) (nullable) address_key (final) */
  gboolean is_mdn;
  MsgtrkRecipientState state;
  Tier tier;
  GDateTime *date;              /* (owned) (nullable) effective date */
  MsgtrkRecipientReport *entry; /* (owned) */
} Evidence;

static void
evidence_free (gpointer data)
{
  Evidence *ev = data;

  if (ev == NULL)
    return;
  g_free (ev->key);
  g_free (ev->source);
  g_free (ev->mta);
  g_free (ev->next_mta);
  g_free (ev->orcpt);
  g_free (ev->final);
  g_free (ev->orcpt_key);
  g_free (ev->final_key);
  g_clear_pointer (&ev->date, g_date_time_unref);
  g_clear_object (&ev->entry);
  g_free (ev);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Evidence, evidence_free)

/* State told by an Action field; unknown and missing Actions tell nothing. */
static MsgtrkRecipientState
state_from_action (MsgtrkAction action)
{
  switch (action)
    {
    case MSGTRK_ACTION_FAILED:
      return MSGTRK_RECIPIENT_STATE_FAILED;
    case MSGTRK_ACTION_DELAYED:
      return MSGTRK_RECIPIENT_STATE_DELAYED;
    case MSGTRK_ACTION_DELIVERED:
    case MSGTRK_ACTION_EXPANDED:
      /* RFC 3464 section 2.3.3: delivered to a list or alias, final for that address; the
       * deciding entry keeps Action "expanded" so a UI can say "to a list or alias". */
      return MSGTRK_RECIPIENT_STATE_DELIVERED;
    case MSGTRK_ACTION_TRANSFERRED:
      return MSGTRK_RECIPIENT_STATE_IN_TRANSIT;
    case MSGTRK_ACTION_RELAYED:
      return MSGTRK_RECIPIENT_STATE_RELAYED;
    case MSGTRK_ACTION_OPAQUE:
      return MSGTRK_RECIPIENT_STATE_OPAQUE;
    case MSGTRK_ACTION_NONE:
    case MSGTRK_ACTION_UNKNOWN:
    default:
      return MSGTRK_RECIPIENT_STATE_UNKNOWN;
    }
}

/* Evidence from one recipient block, or NULL if it names no usable address. */
static Evidence *
evidence_new (MsgtrkReport          *report,
              MsgtrkRecipientReport *entry,
              GDateTime             *received)
{
  g_autoptr (Evidence) ev = g_new0 (Evidence, 1);
  GDateTime *date;
  int disposition = 0;

  ev->orcpt = msgtrk_address_normalize (msgtrk_recipient_report_get_original_recipient (entry));
  ev->final = msgtrk_address_normalize (msgtrk_recipient_report_get_final_recipient (entry));
  if (ev->orcpt == NULL && ev->final == NULL)
    return NULL;
  ev->orcpt_key = address_key (ev->orcpt);
  ev->final_key = address_key (ev->final);
  ev->entry = g_object_ref (entry);

  if (msgtrk_report_get_kind (report) == MSGTRK_REPORT_KIND_DISPOSITION_NOTIFICATION)
    {
      const char *ua = msgtrk_report_get_reporting_ua (report);
      g_autofree char *ua_key = NULL;

      if (ua == NULL || !g_utf8_validate (ua, -1, NULL))
        ua = "";
      ua_key = g_utf8_casefold (ua, -1);

      ev->is_mdn = TRUE;
      disposition = (int) msgtrk_recipient_report_get_disposition (entry);
      /* Any MDN proves delivery; "displayed" proves it was read. */
      if (disposition == MSGTRK_DISPOSITION_DISPLAYED)
        {
          ev->state = MSGTRK_RECIPIENT_STATE_READ;
          ev->tier = TIER_READ;
        }
      else
        {
          ev->state = MSGTRK_RECIPIENT_STATE_DELIVERED;
          ev->tier = TIER_MDN_PROOF;
        }
      ev->mta = g_strdup ("");
      ev->source = g_strconcat ("mdn:", ua_key, NULL);
    }
  else
    {
      MsgtrkAction action = msgtrk_recipient_report_get_action (entry);

      ev->state = state_from_action (action);
      ev->tier = state_rules[ev->state].tier;
      ev->mta = mta_normalize (msgtrk_report_get_reporting_mta (report));
      ev->source = g_strconcat ("mta:", ev->mta, NULL);
      if (action == MSGTRK_ACTION_TRANSFERRED || action == MSGTRK_ACTION_RELAYED)
        {
          char *next = mta_normalize (msgtrk_recipient_report_get_remote_mta (entry));

          if (*next != '\0' && *ev->mta != '\0' && strcmp (next, ev->mta) != 0)
            ev->next_mta = next;
          else
            g_free (next);
        }
    }

  /* Effective date: the attempt, else the arrival at the reporter, else our receipt. */
  date = msgtrk_recipient_report_get_last_attempt_date (entry);
  if (date == NULL)
    date = msgtrk_report_get_arrival_date (report);
  if (date == NULL)
    date = received;
  ev->date = date != NULL ? g_date_time_ref (date) : NULL;

  ev->key = g_strdup_printf ("%s\x1f%s\x1f%s\x1f%d", ev->source,
                             ev->orcpt_key != NULL ? ev->orcpt_key : "",
                             ev->final_key != NULL ? ev->final_key : "", disposition);
  return g_steal_pointer (&ev);
}

static int
sign (int v)
{
  return (v > 0) - (v < 0);
}

/* Dates compare in time; evidence without a date is older than any with one. */
static int
date_compare (GDateTime *a,
              GDateTime *b)
{
  if (a == NULL || b == NULL)
    return (a != NULL) - (b != NULL);
  return sign (g_date_time_compare (a, b));
}

/*
 * The one total order on evidence: > 0 when @a is the more informative. Tier first, then
 * the newer effective date, then the tie rank of the state; the remaining comparisons only
 * make the choice between otherwise equal entries independent of arrival order.
 */
static int
evidence_compare (const Evidence *a,
                  const Evidence *b)
{
  int c;

  if (a->tier != b->tier)
    return a->tier > b->tier ? 1 : -1;
  c = date_compare (a->date, b->date);
  if (c != 0)
    return c;
  if (state_rules[a->state].tie_rank != state_rules[b->state].tie_rank)
    return state_rules[a->state].tie_rank > state_rules[b->state].tie_rank ? 1 : -1;
  if ((c = sign (g_strcmp0 (b->source, a->source))) != 0)
    return c;
  if ((c = sign (g_strcmp0 (b->key, a->key))) != 0)
    return c;
  if ((c = sign (g_strcmp0 (msgtrk_recipient_report_get_status (b->entry),
                            msgtrk_recipient_report_get_status (a->entry)))) != 0)
    return c;
  if ((c = sign (g_strcmp0 (msgtrk_recipient_report_get_diagnostic_code (b->entry),
                            msgtrk_recipient_report_get_diagnostic_code (a->entry)))) != 0)
    return c;
  return sign (g_strcmp0 (msgtrk_recipient_report_get_remote_mta (b->entry),
                          msgtrk_recipient_report_get_remote_mta (a->entry)));
}

static gboolean
tier_is_open (Tier tier)
{
  return tier == TIER_MOVING || tier == TIER_END_OF_TRACKING;
}

#define NODE_UNSET G_MAXUINT

/*
 * The route of one recipient: reporters (MTA names) as nodes, an edge X → Y for each
 * transferred/relayed block of X naming Remote-MTA Y. X is upstream of Y when Y is
 * reachable from X and X is not reachable from Y, i.e. when X's strongly connected
 * component reaches Y's and they differ. Linear in nodes and edges, no recursion.
 */
typedef struct
{
  GHashTable *ids;   /* MTA name (unowned) → node id + 1 */
  GPtrArray *succ;   /* node id → GArray of successor ids */
  guint *comp;       /* node id → component; components complete downstream first */
  guint n_comps;
} Route;

static void
route_clear (Route *route)
{
  g_clear_pointer (&route->ids, g_hash_table_unref);
  g_clear_pointer (&route->succ, g_ptr_array_unref);
  g_clear_pointer (&route->comp, g_free);
}

static guint
route_node (Route      *route,
            const char *mta)
{
  gpointer id = g_hash_table_lookup (route->ids, mta);

  if (id != NULL)
    return GPOINTER_TO_UINT (id) - 1;
  g_ptr_array_add (route->succ, g_array_new (FALSE, FALSE, sizeof (guint)));
  g_hash_table_insert (route->ids, (gpointer) mta, GUINT_TO_POINTER (route->succ->len));
  return route->succ->len - 1;
}

/* Tarjan's algorithm with an explicit stack: route->comp and route->n_comps. */
static void
route_find_components (Route *route)
{
  guint n = route->succ->len;
  g_autofree guint *index = g_new (guint, n);
  g_autofree guint *low = g_new (guint, n);
  g_autofree gboolean *on_stack = g_new0 (gboolean, n);
  g_autofree guint *stack = g_new (guint, n);
  g_autofree guint *call_node = g_new (guint, n);
  g_autofree guint *call_edge = g_new (guint, n);
  guint sp = 0, csp = 0, counter = 0;
  guint root;

  route->comp = g_new (guint, n);
  route->n_comps = 0;
  for (root = 0; root < n; root++)
    index[root] = NODE_UNSET;

  for (root = 0; root < n; root++)
    {
      if (index[root] != NODE_UNSET)
        continue;
      index[root] = low[root] = counter++;
      stack[sp++] = root;
      on_stack[root] = TRUE;
      call_node[csp] = root;
      call_edge[csp++] = 0;
      while (csp > 0)
        {
          guint v = call_node[csp - 1];
          GArray *succ = route->succ->pdata[v];

          if (call_edge[csp - 1] < succ->len)
            {
              guint w = g_array_index (succ, guint, call_edge[csp - 1]++);

              if (index[w] == NODE_UNSET)
                {
                  index[w] = low[w] = counter++;
                  stack[sp++] = w;
                  on_stack[w] = TRUE;
                  call_node[csp] = w;
                  call_edge[csp++] = 0;
                }
              else if (on_stack[w])
                low[v] = MIN (low[v], index[w]);
              continue;
            }
          csp--;
          if (csp > 0)
            low[call_node[csp - 1]] = MIN (low[call_node[csp - 1]], low[v]);
          if (low[v] == index[v])
            {
              guint w;

              do
                {
                  w = stack[--sp];
                  on_stack[w] = FALSE;
                  route->comp[w] = route->n_comps;
                }
              while (w != v);
              route->n_comps++;
            }
        }
    }
}

/*
 * Mark in @upstream (indexed like @evidence) each open-tier piece whose reporter is
 * strictly upstream of another open-tier piece's reporter. Returns FALSE if there is no
 * route at all (nothing is upstream of anything).
 */
static gboolean
route_mark_upstream (GPtrArray *evidence,
                     gboolean  *upstream)
{
  Route route = { 0 };
  g_autofree guint *order = NULL;
  g_autofree guint *comp_start = NULL;
  g_autofree gboolean *has_candidate = NULL;
  g_autofree gboolean *below = NULL;
  guint i, c, n;

  route.ids = g_hash_table_new (g_str_hash, g_str_equal);
  route.succ = g_ptr_array_new_with_free_func ((GDestroyNotify) g_array_unref);
  for (i = 0; i < evidence->len; i++)
    {
      Evidence *ev = evidence->pdata[i];
      guint from, to;

      if (ev->next_mta == NULL)
        continue;
      from = route_node (&route, ev->mta);
      to = route_node (&route, ev->next_mta);
      g_array_append_val (route.succ->pdata[from], to);
    }
  n = route.succ->len;
  if (n == 0)
    {
      route_clear (&route);
      return FALSE;
    }
  route_find_components (&route);

  /* Nodes grouped by component, components in completion order (downstream first). */
  comp_start = g_new0 (guint, route.n_comps + 1);
  for (i = 0; i < n; i++)
    comp_start[route.comp[i] + 1]++;
  for (c = 0; c < route.n_comps; c++)
    comp_start[c + 1] += comp_start[c];
  order = g_new (guint, n);
  {
    g_autofree guint *fill = g_memdup2 (comp_start, sizeof (guint) * (route.n_comps + 1));

    for (i = 0; i < n; i++)
      order[fill[route.comp[i]]++] = i;
  }

  has_candidate = g_new0 (gboolean, route.n_comps);
  for (i = 0; i < evidence->len; i++)
    {
      Evidence *ev = evidence->pdata[i];
      gpointer id = g_hash_table_lookup (route.ids, ev->mta);

      if (tier_is_open (ev->tier) && id != NULL)
        has_candidate[route.comp[GPOINTER_TO_UINT (id) - 1]] = TRUE;
    }

  /* below[c]: a component strictly downstream of c holds a candidate. Every component
   * reachable from c completed before c, so one pass in completion order suffices. */
  below = g_new0 (gboolean, route.n_comps);
  for (i = 0; i < n; i++)
    {
      guint u = order[i];
      GArray *succ = route.succ->pdata[u];
      guint j;

      for (j = 0; j < succ->len; j++)
        {
          guint cv = route.comp[g_array_index (succ, guint, j)];

          if (cv != route.comp[u] && (has_candidate[cv] || below[cv]))
            below[route.comp[u]] = TRUE;
        }
    }

  for (i = 0; i < evidence->len; i++)
    {
      Evidence *ev = evidence->pdata[i];
      gpointer id = g_hash_table_lookup (route.ids, ev->mta);

      upstream[i] = tier_is_open (ev->tier) && id != NULL &&
                    below[route.comp[GPOINTER_TO_UINT (id) - 1]];
    }
  route_clear (&route);
  return TRUE;
}

/*
 * THE decision (docs/status.md "Precedence"): the most informative evidence under
 * evidence_compare(); but when the best says only "moving" or "end of tracking", news from
 * a hop further down the route beats what an earlier hop said, whatever the dates: among
 * those two tiers, evidence whose reporter is strictly upstream of another candidate's
 * reporter (through transferred/relayed Remote-MTA edges) is left out first.
 */
static Evidence *
select_decider (GPtrArray *evidence)
{
  Evidence *best = NULL;
  Evidence *open_best = NULL;
  g_autofree gboolean *upstream = NULL;
  guint i;

  for (i = 0; i < evidence->len; i++)
    if (best == NULL || evidence_compare (evidence->pdata[i], best) > 0)
      best = evidence->pdata[i];
  if (best == NULL || !tier_is_open (best->tier))
    return best;

  upstream = g_new0 (gboolean, evidence->len);
  if (!route_mark_upstream (evidence, upstream))
    return best;
  for (i = 0; i < evidence->len; i++)
    {
      Evidence *ev = evidence->pdata[i];

      if (tier_is_open (ev->tier) && !upstream[i] &&
          (open_best == NULL || evidence_compare (ev, open_best) > 0))
        open_best = ev;
    }
  /* "Strictly upstream" is a strict partial order, so some candidate always remains. */
  return open_best != NULL ? open_best : best;
}

typedef struct
{
  char *address;      /* (owned) normalised */
  char *key;          /* (owned) address_key (address) */
  MsgtrkRecipientState state;
  Evidence *decider;  /* (unowned) (nullable) */
  GPtrArray *evidence; /* (element-type Evidence) (unowned) */
} Recipient;

static void
recipient_free (gpointer data)
{
  Recipient *r = data;

  g_free (r->address);
  g_free (r->key);
  g_ptr_array_unref (r->evidence);
  g_free (r);
}

/**
 * MsgtrkStatus:
 *
 * What is known about one message: all its reports (MTQP tracking-status from any hop,
 * DSNs, MDNs) in, each recipient's [enum@Msgtrk.RecipientState] and a one-line summary
 * out.
 *
 * The result depends only on the set of reports added, never on their order (below
 * %MSGTRK_STATUS_MAX_EVIDENCE). The rules are in docs/status.md.
 *
 * Since: 1.0
 */
struct _MsgtrkStatus
{
  GObject parent_instance;

  gboolean have_list;     /* the sender's recipients were given */
  GPtrArray *given;       /* (element-type utf8) (owned) normalised, in the given order */
  GHashTable *evidence;   /* (owned) key → Evidence (owned) */

  gboolean dirty;         /* the fields below must be recomputed */
  GPtrArray *recipients;  /* (element-type Recipient) (owned) given, then learned */
  GHashTable *by_key;     /* address key → Recipient (unowned) */
};

G_DEFINE_FINAL_TYPE (MsgtrkStatus, msgtrk_status, G_TYPE_OBJECT)

static void
msgtrk_status_finalize (GObject *object)
{
  MsgtrkStatus *self = MSGTRK_STATUS (object);

  g_clear_pointer (&self->by_key, g_hash_table_unref);
  g_clear_pointer (&self->recipients, g_ptr_array_unref);
  g_clear_pointer (&self->evidence, g_hash_table_unref);
  g_clear_pointer (&self->given, g_ptr_array_unref);

  G_OBJECT_CLASS (msgtrk_status_parent_class)->finalize (object);
}

static void
msgtrk_status_class_init (MsgtrkStatusClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = msgtrk_status_finalize;
}

static void
msgtrk_status_init (MsgtrkStatus *self)
{
  self->given = g_ptr_array_new_with_free_func (g_free);
  self->evidence = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, evidence_free);
  self->recipients = g_ptr_array_new_with_free_func (recipient_free);
  self->by_key = g_hash_table_new (g_str_hash, g_str_equal);
  self->dirty = TRUE;
}

/**
 * msgtrk_status_new:
 * @recipients: (nullable) (array zero-terminated=1): the addresses the message was sent
 *   to, or %NULL to learn them from the reports
 *
 * Start collecting the reports about one message.
 *
 * With a list, only those recipients are tracked (in that order; duplicates and
 * addresses that msgtrk_address_normalize() refuses are dropped); a report recipient
 * that matches none of them, directly or through an Original-Recipient seen with it, is
 * ignored (except an MDN when the list has exactly one address). Without a list, every
 * recipient named in a report is tracked. See docs/status.md "Recipients".
 *
 * Returns: (transfer full): a new #MsgtrkStatus
 *
 * Since: 1.0
 */
MsgtrkStatus *
msgtrk_status_new (const char * const *recipients)
{
  MsgtrkStatus *self = g_object_new (MSGTRK_TYPE_STATUS, NULL);

  if (recipients != NULL)
    {
      g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      guint i;

      self->have_list = TRUE;
      for (i = 0; recipients[i] != NULL; i++)
        {
          char *address = msgtrk_address_normalize (recipients[i]);
          char *key = address_key (address);

          if (address == NULL || !g_hash_table_add (seen, key))
            {
              g_free (address);
              continue;
            }
          g_ptr_array_add (self->given, address);
        }
    }
  return self;
}

/**
 * msgtrk_status_add_report:
 * @self: a #MsgtrkStatus
 * @report: a report about this message (tracking-status, delivery-status or MDN)
 * @received: (nullable): when the report was received (the MTQP answer, the DSN or MDN
 *   message); used as its date where the report itself gives none
 *
 * Add what @report says about each of its recipients. A newer word from the same reporter
 * about the same recipient replaces its older one (see docs/status.md "Evidence"); the
 * caller need not filter repeated polls. @report must be about this message: matching it
 * to the message (ENVID, Message-ID) is the caller's business.
 *
 * The state is computed from all reports added so far, whatever their order.
 *
 * Since: 1.0
 */
void
msgtrk_status_add_report (MsgtrkStatus *self,
                          MsgtrkReport *report,
                          GDateTime    *received)
{
  GPtrArray *entries;
  guint i;

  g_return_if_fail (MSGTRK_IS_STATUS (self));
  g_return_if_fail (MSGTRK_IS_REPORT (report));

  entries = msgtrk_report_get_recipients (report);
  for (i = 0; entries != NULL && i < entries->len; i++)
    {
      Evidence *ev = evidence_new (report, entries->pdata[i], received);
      Evidence *old;

      if (ev == NULL)
        {
          g_debug ("status: ignoring a recipient block without a usable address");
          continue;
        }
      old = g_hash_table_lookup (self->evidence, ev->key);
      if (old != NULL)
        {
          if (evidence_compare (ev, old) > 0)
            g_hash_table_replace (self->evidence, ev->key, ev);
          else
            evidence_free (ev);
        }
      else if (g_hash_table_size (self->evidence) >= MSGTRK_STATUS_MAX_EVIDENCE)
        {
          g_debug ("status: more than %u reporter/recipient pairs, ignoring one",
                   (guint) MSGTRK_STATUS_MAX_EVIDENCE);
          evidence_free (ev);
          continue;
        }
      else
        g_hash_table_insert (self->evidence, ev->key, ev);
      self->dirty = TRUE;
    }
}

static Recipient *
status_add_recipient (MsgtrkStatus *self,
                      const char   *address,
                      const char   *key)
{
  Recipient *r = g_hash_table_lookup (self->by_key, key);

  if (r != NULL)
    return r;
  r = g_new0 (Recipient, 1);
  r->address = g_strdup (address);
  r->key = g_strdup (key);
  r->evidence = g_ptr_array_new ();
  g_ptr_array_add (self->recipients, r);
  g_hash_table_insert (self->by_key, r->key, r);
  return r;
}

static int
evidence_key_compare (gconstpointer a,
                      gconstpointer b)
{
  const Evidence *ea = *(Evidence * const *) a;
  const Evidence *eb = *(Evidence * const *) b;

  return strcmp (ea->key, eb->key);
}

static int
recipient_key_compare (gconstpointer a,
                       gconstpointer b)
{
  const Recipient *ra = *(Recipient * const *) a;
  const Recipient *rb = *(Recipient * const *) b;

  return strcmp (ra->key, rb->key);
}

/* Recipients the evidence is about: Original-Recipient, else Final-Recipient, else the
 * Original-Recipients that other blocks gave for this Final-Recipient. */
static void
match_evidence (MsgtrkStatus *self,
                GHashTable   *aliases,
                Evidence     *ev,
                GPtrArray    *out)
{
  Recipient *r;
  GPtrArray *targets;
  guint i;

  g_ptr_array_set_size (out, 0);
  if (ev->orcpt_key != NULL && (r = g_hash_table_lookup (self->by_key, ev->orcpt_key)) != NULL)
    {
      g_ptr_array_add (out, r);
      return;
    }
  if (ev->final_key != NULL && (r = g_hash_table_lookup (self->by_key, ev->final_key)) != NULL)
    {
      g_ptr_array_add (out, r);
      return;
    }
  targets = ev->final_key != NULL ? g_hash_table_lookup (aliases, ev->final_key) : NULL;
  for (i = 0; targets != NULL && i < targets->len; i++)
    {
      r = g_hash_table_lookup (self->by_key, targets->pdata[i]);
      if (r != NULL && !g_ptr_array_find (out, r, NULL))
        g_ptr_array_add (out, r);
    }
}

/* Learn a recipient from a block (no list given): its Original-Recipient, else its
 * Final-Recipient unless another block maps that to an Original-Recipient. */
static void
learn_recipient (MsgtrkStatus *self,
                 GHashTable   *aliases,
                 Evidence     *ev)
{
  if (ev->orcpt_key != NULL)
    status_add_recipient (self, ev->orcpt, ev->orcpt_key);
  else if (!g_hash_table_contains (aliases, ev->final_key))
    status_add_recipient (self, ev->final, ev->final_key);
}

/* Derive recipients and their states from the whole evidence set (docs/status.md). */
static void
status_recompute (MsgtrkStatus *self)
{
  g_autoptr (GPtrArray) evs = g_ptr_array_new ();
  g_autoptr (GHashTable) aliases = NULL;
  g_autoptr (GPtrArray) matched = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;
  guint n_before_mdn = 0;
  guint n_given;
  guint i, j;

  if (!self->dirty)
    return;
  self->dirty = FALSE;
  g_hash_table_remove_all (self->by_key);
  g_ptr_array_set_size (self->recipients, 0);

  /* A fixed order, so that nothing below depends on the order of arrival. */
  g_hash_table_iter_init (&iter, self->evidence);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (evs, value);
  g_ptr_array_sort (evs, evidence_key_compare);

  /* Final-Recipient → the Original-Recipients given with it (expansion, forwarding). */
  aliases = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                   (GDestroyNotify) g_ptr_array_unref);
  for (i = 0; i < evs->len; i++)
    {
      Evidence *ev = evs->pdata[i];
      GPtrArray *targets;

      if (ev->orcpt_key == NULL || ev->final_key == NULL ||
          strcmp (ev->orcpt_key, ev->final_key) == 0)
        continue;
      targets = g_hash_table_lookup (aliases, ev->final_key);
      if (targets == NULL)
        {
          targets = g_ptr_array_new ();
          g_hash_table_insert (aliases, ev->final_key, targets);
        }
      if (!g_ptr_array_find_with_equal_func (targets, ev->orcpt_key, g_str_equal, NULL))
        g_ptr_array_add (targets, ev->orcpt_key);
    }

  /* Recipients: the given list, or those named by MTA reports, then by unmatched MDNs. */
  for (i = 0; i < self->given->len; i++)
    {
      g_autofree char *key = address_key (self->given->pdata[i]);

      status_add_recipient (self, self->given->pdata[i], key);
    }
  if (!self->have_list)
    {
      for (i = 0; i < evs->len; i++)
        if (!((Evidence *) evs->pdata[i])->is_mdn)
          learn_recipient (self, aliases, evs->pdata[i]);
      n_before_mdn = self->recipients->len;
      g_ptr_array_sort (self->recipients, recipient_key_compare);
      if (n_before_mdn != 1)
        {
          g_autoptr (GPtrArray) unmatched = g_ptr_array_new ();

          for (i = 0; i < evs->len; i++)
            {
              Evidence *ev = evs->pdata[i];

              if (!ev->is_mdn)
                continue;
              match_evidence (self, aliases, ev, matched);
              if (matched->len == 0)
                g_ptr_array_add (unmatched, ev);
            }
          for (i = 0; i < unmatched->len; i++)
            learn_recipient (self, aliases, unmatched->pdata[i]);
          g_ptr_array_sort (self->recipients, recipient_key_compare);
        }
    }
  n_given = self->have_list ? self->recipients->len : n_before_mdn;

  /* Evidence to recipients; an unmatched MDN goes to a message's only recipient. */
  for (i = 0; i < evs->len; i++)
    {
      Evidence *ev = evs->pdata[i];

      match_evidence (self, aliases, ev, matched);
      if (matched->len == 0 && ev->is_mdn && n_given == 1)
        g_ptr_array_add (matched, self->recipients->pdata[0]);
      for (j = 0; j < matched->len; j++)
        g_ptr_array_add (((Recipient *) matched->pdata[j])->evidence, ev);
    }

  for (i = 0; i < self->recipients->len; i++)
    {
      Recipient *r = self->recipients->pdata[i];

      r->decider = select_decider (r->evidence);
      r->state = r->decider != NULL ? r->decider->state : MSGTRK_RECIPIENT_STATE_UNKNOWN;
    }
}

static Recipient *
status_lookup (MsgtrkStatus *self,
               const char   *address)
{
  g_autofree char *normalized = msgtrk_address_normalize (address);
  g_autofree char *key = address_key (normalized);

  if (key == NULL)
    return NULL;
  status_recompute (self);
  return g_hash_table_lookup (self->by_key, key);
}

/**
 * msgtrk_status_list_recipients:
 * @self: a #MsgtrkStatus
 *
 * The recipients tracked, normalised (msgtrk_address_normalize()): the given list in its
 * order, or, without a list, those learned from the reports, sorted by address.
 *
 * Returns: (transfer full) (array zero-terminated=1): the addresses
 *
 * Since: 1.0
 */
char **
msgtrk_status_list_recipients (MsgtrkStatus *self)
{
  GStrvBuilder *builder;
  char **out;
  guint i;

  g_return_val_if_fail (MSGTRK_IS_STATUS (self), NULL);

  status_recompute (self);
  builder = g_strv_builder_new ();
  for (i = 0; i < self->recipients->len; i++)
    g_strv_builder_add (builder, ((Recipient *) self->recipients->pdata[i])->address);
  out = g_strv_builder_end (builder);
  g_strv_builder_unref (builder);
  return out;
}

/**
 * msgtrk_status_get_recipient_state:
 * @self: a #MsgtrkStatus
 * @recipient: one of the recipients, in any form msgtrk_address_normalize() accepts
 *   (compared case-insensitively)
 *
 * The state of one recipient, derived as docs/status.md "Precedence" says.
 *
 * Returns: the state; %MSGTRK_RECIPIENT_STATE_UNKNOWN for an address that is not one of
 *   the recipients or about which nothing is known
 *
 * Since: 1.0
 */
MsgtrkRecipientState
msgtrk_status_get_recipient_state (MsgtrkStatus *self,
                                   const char   *recipient)
{
  Recipient *r;

  g_return_val_if_fail (MSGTRK_IS_STATUS (self), MSGTRK_RECIPIENT_STATE_UNKNOWN);
  g_return_val_if_fail (recipient != NULL, MSGTRK_RECIPIENT_STATE_UNKNOWN);

  r = status_lookup (self, recipient);
  return r != NULL ? r->state : MSGTRK_RECIPIENT_STATE_UNKNOWN;
}

/**
 * msgtrk_status_get_recipient_report:
 * @self: a #MsgtrkStatus
 * @recipient: one of the recipients (as for msgtrk_status_get_recipient_state())
 *
 * The report entry that decided the recipient's state: where a message is stuck, and
 * why (its Remote-MTA, Status, Diagnostic-Code, Will-Retry-Until). For a recipient in
 * state unknown this is the newest entry with an Action this library does not know, if
 * any.
 *
 * The entry belongs to @self: it stays valid until the next msgtrk_status_add_report()
 * (which may replace it with a newer word from the same reporter) or until @self is
 * finalized; take a reference to keep it longer.
 *
 * Returns: (transfer none) (nullable): the entry, or %NULL if nothing is known about
 *   @recipient
 *
 * Since: 1.0
 */
MsgtrkRecipientReport *
msgtrk_status_get_recipient_report (MsgtrkStatus *self,
                                    const char   *recipient)
{
  Recipient *r;

  g_return_val_if_fail (MSGTRK_IS_STATUS (self), NULL);
  g_return_val_if_fail (recipient != NULL, NULL);

  r = status_lookup (self, recipient);
  if (r == NULL || r->decider == NULL)
    return NULL;
  return r->decider->entry;
}

/**
 * msgtrk_status_count:
 * @self: a #MsgtrkStatus
 * @state: a recipient state
 *
 * How many recipients are in exactly @state.
 *
 * Returns: the number of recipients
 *
 * Since: 1.0
 */
guint
msgtrk_status_count (MsgtrkStatus        *self,
                     MsgtrkRecipientState state)
{
  guint n = 0;
  guint i;

  g_return_val_if_fail (MSGTRK_IS_STATUS (self), 0);
  g_return_val_if_fail (state_is_valid (state), 0);

  status_recompute (self);
  for (i = 0; i < self->recipients->len; i++)
    if (((Recipient *) self->recipients->pdata[i])->state == state)
      n++;
  return n;
}

/**
 * msgtrk_status_get_overall:
 * @self: a #MsgtrkStatus
 *
 * The one state a status column shows: the "worst actionable" state of all recipients,
 * in this order: failed, delayed, in-transit (also when some recipient is still
 * unknown), opaque, relayed, delivered, read. Unknown when there are no recipients or
 * nothing is known about any of them. See docs/status.md "Overall state".
 *
 * Returns: the overall state
 *
 * Since: 1.0
 */
MsgtrkRecipientState
msgtrk_status_get_overall (MsgtrkStatus *self)
{
  MsgtrkRecipientState overall = MSGTRK_RECIPIENT_STATE_UNKNOWN;
  gboolean any_known = FALSE;
  guint i;

  g_return_val_if_fail (MSGTRK_IS_STATUS (self), MSGTRK_RECIPIENT_STATE_UNKNOWN);

  status_recompute (self);
  for (i = 0; i < self->recipients->len; i++)
    {
      MsgtrkRecipientState state = ((Recipient *) self->recipients->pdata[i])->state;

      if (state != MSGTRK_RECIPIENT_STATE_UNKNOWN)
        any_known = TRUE;
      if (i == 0 || state_rules[state].overall_rank < state_rules[overall].overall_rank)
        overall = state;
    }
  if (!any_known)
    return MSGTRK_RECIPIENT_STATE_UNKNOWN;
  /* Unknown ranks with in-transit: the message was sent, nothing more is known yet. */
  if (overall == MSGTRK_RECIPIENT_STATE_UNKNOWN)
    return MSGTRK_RECIPIENT_STATE_IN_TRANSIT;
  return overall;
}

/**
 * msgtrk_status_is_final:
 * @self: a #MsgtrkStatus
 *
 * Whether every recipient is in a final state (msgtrk_recipient_state_is_final()), so
 * that polling can stop. %FALSE when there are no recipients.
 *
 * Returns: whether the message's tracking is complete
 *
 * Since: 1.0
 */
gboolean
msgtrk_status_is_final (MsgtrkStatus *self)
{
  guint i;

  g_return_val_if_fail (MSGTRK_IS_STATUS (self), FALSE);

  status_recompute (self);
  if (self->recipients->len == 0)
    return FALSE;
  for (i = 0; i < self->recipients->len; i++)
    if (!state_rules[((Recipient *) self->recipients->pdata[i])->state].is_final)
      return FALSE;
  return TRUE;
}

/**
 * msgtrk_status_format_summary:
 * @self: a #MsgtrkStatus
 *
 * A short translated text for a status column or a notification, e.g.
 * "Delivered 2/3, 1 delayed", "Failed 1/2, 1 delivered", "In transit", "Read 1/1",
 * "No tracking information yet". The exact grammar is in docs/status.md "Summary".
 *
 * Returns: (transfer full): the summary
 *
 * Since: 1.0
 */
char *
msgtrk_status_format_summary (MsgtrkStatus *self)
{
  guint c[N_STATES] = { 0 };
  guint n, known, delivered, k;
  gboolean skip[N_STATES] = { FALSE };
  gboolean skip_delivered = FALSE;
  g_autoptr (GPtrArray) parts = NULL;
  guint i;

  g_return_val_if_fail (MSGTRK_IS_STATUS (self), NULL);

  msgtrk_ensure_i18n ();
  status_recompute (self);
  n = self->recipients->len;
  for (i = 0; i < n; i++)
    c[((Recipient *) self->recipients->pdata[i])->state]++;
  known = n - c[MSGTRK_RECIPIENT_STATE_UNKNOWN];
  delivered = c[MSGTRK_RECIPIENT_STATE_DELIVERED] + c[MSGTRK_RECIPIENT_STATE_READ];

  if (known == 0)
    return g_strdup (_("No tracking information yet"));
  if (c[MSGTRK_RECIPIENT_STATE_READ] == n)
    /* TRANSLATORS: status of a sent message: all N of N recipients have read it. */
    return g_strdup_printf (_("Read %u/%u"), n, n);
  parts = g_ptr_array_new_with_free_func (g_free);
  if (c[MSGTRK_RECIPIENT_STATE_FAILED] > 0)
    {
      /* TRANSLATORS: status of a sent message: F of N recipients failed; more may follow
       * after a separator, e.g. "Failed 1/2, 1 delivered". */
      g_ptr_array_add (parts, g_strdup_printf (_("Failed %u/%u"),
                                               c[MSGTRK_RECIPIENT_STATE_FAILED], n));
      skip[MSGTRK_RECIPIENT_STATE_FAILED] = TRUE;
    }
  else if (delivered > 0)
    {
      /* TRANSLATORS: status of a sent message: D of N recipients have it (read or not). */
      g_ptr_array_add (parts, g_strdup_printf (_("Delivered %u/%u"), delivered, n));
      skip_delivered = TRUE;
    }
  else if (c[MSGTRK_RECIPIENT_STATE_DELAYED] > 0)
    {
      /* TRANSLATORS: status of a sent message: D of N recipients' copies are delayed. */
      g_ptr_array_add (parts, g_strdup_printf (_("Delayed %u/%u"),
                                               c[MSGTRK_RECIPIENT_STATE_DELAYED], n));
      skip[MSGTRK_RECIPIENT_STATE_DELAYED] = TRUE;
    }
  else if (c[MSGTRK_RECIPIENT_STATE_IN_TRANSIT] + c[MSGTRK_RECIPIENT_STATE_UNKNOWN] > 0)
    {
      /* TRANSLATORS: status of a sent message that is on its way. */
      g_ptr_array_add (parts, g_strdup (_("In transit")));
      skip[MSGTRK_RECIPIENT_STATE_IN_TRANSIT] = TRUE;
      skip[MSGTRK_RECIPIENT_STATE_UNKNOWN] = TRUE;
    }
  else if (c[MSGTRK_RECIPIENT_STATE_RELAYED] > 0)
    {
      /* TRANSLATORS: status of a sent message: R of N recipients' copies were passed to a
       * mail server that gives no tracking information. */
      g_ptr_array_add (parts, g_strdup_printf (_("Relayed to a server without tracking (%u/%u)"),
                                               c[MSGTRK_RECIPIENT_STATE_RELAYED], n));
      skip[MSGTRK_RECIPIENT_STATE_RELAYED] = TRUE;
    }
  else
    {
      /* TRANSLATORS: status of a sent message: a mail server declined to say more about O
       * of N recipients' copies (RFC 3886 "opaque"). */
      g_ptr_array_add (parts, g_strdup_printf (_("Not disclosed by a server (%u/%u)"),
                                               c[MSGTRK_RECIPIENT_STATE_OPAQUE], n));
      skip[MSGTRK_RECIPIENT_STATE_OPAQUE] = TRUE;
    }

  /* The tails, in this order; each text is written out so that xgettext finds it. */
  if (!skip[MSGTRK_RECIPIENT_STATE_FAILED] && (k = c[MSGTRK_RECIPIENT_STATE_FAILED]) > 0)
    /* TRANSLATORS: part of a sent message's status, after e.g. "Delivered 2/3, ". */
    g_ptr_array_add (parts, g_strdup_printf (ngettext ("%u failed", "%u failed", k), k));
  if (!skip[MSGTRK_RECIPIENT_STATE_DELAYED] && (k = c[MSGTRK_RECIPIENT_STATE_DELAYED]) > 0)
    /* TRANSLATORS: part of a sent message's status: recipients whose copy is delayed. */
    g_ptr_array_add (parts, g_strdup_printf (ngettext ("%u delayed", "%u delayed", k), k));
  if (!skip[MSGTRK_RECIPIENT_STATE_IN_TRANSIT] && (k = c[MSGTRK_RECIPIENT_STATE_IN_TRANSIT]) > 0)
    /* TRANSLATORS: part of a sent message's status: recipients whose copy is on its way. */
    g_ptr_array_add (parts, g_strdup_printf (ngettext ("%u in transit", "%u in transit", k), k));
  if (!skip[MSGTRK_RECIPIENT_STATE_UNKNOWN] && (k = c[MSGTRK_RECIPIENT_STATE_UNKNOWN]) > 0)
    /* TRANSLATORS: part of a sent message's status: recipients nothing is known about yet. */
    g_ptr_array_add (parts, g_strdup_printf (ngettext ("%u without news", "%u without news", k),
                                             k));
  if (!skip[MSGTRK_RECIPIENT_STATE_RELAYED] && (k = c[MSGTRK_RECIPIENT_STATE_RELAYED]) > 0)
    /* TRANSLATORS: part of a sent message's status: recipients whose copy went on to a
     * server without tracking. */
    g_ptr_array_add (parts, g_strdup_printf (ngettext ("%u relayed", "%u relayed", k), k));
  if (!skip[MSGTRK_RECIPIENT_STATE_OPAQUE] && (k = c[MSGTRK_RECIPIENT_STATE_OPAQUE]) > 0)
    /* TRANSLATORS: part of a sent message's status: recipients about whom a server
     * declined to say more. */
    g_ptr_array_add (parts, g_strdup_printf (ngettext ("%u not disclosed", "%u not disclosed", k),
                                             k));

  if (!skip_delivered && delivered > 0)
    /* TRANSLATORS: part of a sent message's status: recipients who have it (read or not). */
    g_ptr_array_add (parts, g_strdup_printf (ngettext ("%u delivered", "%u delivered", delivered),
                                             delivered));
  if (c[MSGTRK_RECIPIENT_STATE_READ] > 0)
    /* TRANSLATORS: part of a sent message's status: recipients who have read it. */
    g_ptr_array_add (parts, g_strdup_printf (ngettext ("%u read", "%u read",
                                                       c[MSGTRK_RECIPIENT_STATE_READ]),
                                             c[MSGTRK_RECIPIENT_STATE_READ]));

  g_ptr_array_add (parts, NULL);
  /* TRANSLATORS: separator between the parts of a sent message's status. */
  return g_strjoinv (C_ ("status summary", ", "), (char **) parts->pdata);
}
