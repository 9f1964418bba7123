/* mhf-fake-cliniko.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The fake Cliniko: a SoupServer in its own thread that serves a JSON
 * fixture the way cliniko-api.md §8 says the real API behaves. Everything
 * the server thread touches is guarded by one mutex, so tests can mutate
 * data and read the request log from their own thread at any time.
 *
 * It never logs request bodies, response bodies or Authorization headers.
 */

#include "config.h"

#include "mhf-fake-cliniko.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>

#define DEFAULT_PER_PAGE 50
#define MAX_PER_PAGE 100
#define RATE_WINDOW_SECONDS 60
#define DEFAULT_RATE_LIMIT 200
/* libsoup 3.2 has no name for it. */
#define STATUS_TOO_MANY_REQUESTS 429
#define FIRST_CREATED_ID G_GUINT64_CONSTANT (900000000000000001)

typedef enum
{
  FT_DATETIME,
  FT_INT,
  FT_STRING,
  FT_DATE,
} FieldType;

typedef struct
{
  const char *name;
  FieldType   type;
} FieldSpec;

/* An internal "*_id" member of a fixture row, served as a link object. */
typedef struct
{
  const char *field;
  const char *link;
  const char *target;
} RelSpec;

enum
{
  TOMB_CANCELLED = 1 << 0,
  TOMB_DELETED   = 1 << 1,
  TOMB_ARCHIVED  = 1 << 2,
};

typedef struct
{
  const char        *name;
  const FieldSpec   *filters;
  const RelSpec     *rels;
  const char *const *subs;
  guint              tombstones;
} ResourceSpec;

typedef enum
{
  VIEW_MAIN,
  VIEW_CANCELLED,
  VIEW_DELETED,
  VIEW_ARCHIVED,
  VIEW_SUB,
} View;

static const FieldSpec business_filters[] = {
  { "created_at", FT_DATETIME }, { "id", FT_INT }, { "updated_at", FT_DATETIME },
  { "archived_at", FT_DATETIME }, { NULL, 0 },
};
static const FieldSpec practitioner_filters[] = {
  { "created_at", FT_DATETIME }, { "id", FT_INT }, { "updated_at", FT_DATETIME },
  { "user_id", FT_INT }, { NULL, 0 },
};
static const FieldSpec appointment_type_filters[] = {
  { "created_at", FT_DATETIME }, { "id", FT_INT }, { "updated_at", FT_DATETIME },
  { "archived_at", FT_DATETIME }, { "category", FT_STRING }, { NULL, 0 },
};
static const FieldSpec patient_filters[] = {
  { "created_at", FT_DATETIME }, { "date_of_birth", FT_DATE }, { "email", FT_STRING },
  { "first_name", FT_STRING }, { "id", FT_INT }, { "last_name", FT_STRING },
  { "updated_at", FT_DATETIME }, { "archived_at", FT_DATETIME }, { NULL, 0 },
};
static const FieldSpec individual_filters[] = {
  { "appointment_type_id", FT_INT }, { "archived_at", FT_DATETIME },
  { "business_id", FT_INT }, { "cancelled_at", FT_DATETIME },
  { "created_at", FT_DATETIME }, { "ends_at", FT_DATETIME }, { "id", FT_INT },
  { "patient_id", FT_INT }, { "practitioner_id", FT_INT },
  { "repeated_from_id", FT_INT }, { "starts_at", FT_DATETIME },
  { "updated_at", FT_DATETIME }, { NULL, 0 },
};
static const FieldSpec group_filters[] = {
  { "appointment_type_id", FT_INT }, { "archived_at", FT_DATETIME },
  { "business_id", FT_INT }, { "created_at", FT_DATETIME },
  { "ends_at", FT_DATETIME }, { "id", FT_INT }, { "practitioner_id", FT_INT },
  { "repeated_from_id", FT_INT }, { "starts_at", FT_DATETIME },
  { "updated_at", FT_DATETIME }, { NULL, 0 },
};
static const FieldSpec attendee_filters[] = {
  { "booking_id", FT_INT }, { "created_at", FT_DATETIME }, { "id", FT_INT },
  { "patient_id", FT_INT }, { "updated_at", FT_DATETIME },
  { "archived_at", FT_DATETIME }, { "cancelled_at", FT_DATETIME }, { NULL, 0 },
};
static const FieldSpec communication_filters[] = {
  { "archived_at", FT_DATETIME }, { "category_code", FT_INT },
  { "created_at", FT_DATETIME }, { "id", FT_INT }, { "patient_id", FT_INT },
  { "updated_at", FT_DATETIME }, { NULL, 0 },
};

static const RelSpec no_rels[] = { { NULL, NULL, NULL } };
static const RelSpec practitioner_rels[] = {
  { "user_id", "user", "users" },
  { "default_appointment_type_id", "default_appointment_type", "appointment_types" },
  { NULL, NULL, NULL },
};
static const RelSpec patient_rels[] = {
  { "merged_with_patient_id", "merged_with_patient", "patients" },
  { NULL, NULL, NULL },
};
static const RelSpec individual_rels[] = {
  { "appointment_type_id", "appointment_type", "appointment_types" },
  { "business_id", "business", "businesses" },
  { "practitioner_id", "practitioner", "practitioners" },
  { "patient_id", "patient", "patients" },
  { "repeated_from_id", "repeated_from", "individual_appointments" },
  { NULL, NULL, NULL },
};
static const RelSpec group_rels[] = {
  { "appointment_type_id", "appointment_type", "appointment_types" },
  { "business_id", "business", "businesses" },
  { "practitioner_id", "practitioner", "practitioners" },
  { "repeated_from_id", "repeated_from", "group_appointments" },
  { NULL, NULL, NULL },
};
static const RelSpec attendee_rels[] = {
  { "booking_id", "booking", "bookings" },
  { "patient_id", "patient", "patients" },
  { NULL, NULL, NULL },
};
static const RelSpec communication_rels[] = {
  { "patient_id", "patient", "patients" },
  { NULL, NULL, NULL },
};

static const char *const no_subs[] = { NULL };
static const char *const business_subs[] = { "practitioners", NULL };
static const char *const practitioner_subs[] = { "appointments", NULL };
static const char *const patient_subs[] = { "appointments", "invoices", "medical_alerts", NULL };
static const char *const appointment_subs[] = { "attendees", "conflicts", NULL };
static const char *const attendee_subs[] = { "invoices", NULL };

static const ResourceSpec resource_specs[] = {
  { "businesses", business_filters, no_rels, business_subs, 0 },
  { "practitioners", practitioner_filters, practitioner_rels, practitioner_subs, 0 },
  { "appointment_types", appointment_type_filters, no_rels, no_subs, 0 },
  { "patients", patient_filters, patient_rels, patient_subs, TOMB_DELETED | TOMB_ARCHIVED },
  { "individual_appointments", individual_filters, individual_rels, appointment_subs,
    TOMB_CANCELLED | TOMB_DELETED },
  { "group_appointments", group_filters, group_rels, appointment_subs, TOMB_DELETED },
  { "attendees", attendee_filters, attendee_rels, attendee_subs, TOMB_CANCELLED | TOMB_DELETED },
  { "communications", communication_filters, communication_rels, no_subs, 0 },
};

static const struct
{
  int         code;
  const char *description;
} cancellation_reasons[] = {
  { 10, "Feeling better" }, { 20, "Condition worse" }, { 30, "Sick" },
  { 31, "COVID-19 related" }, { 40, "Away" }, { 50, "Other" }, { 60, "Work" },
};

typedef struct
{
  const ResourceSpec *spec;
  GPtrArray          *rows;   /* JsonObject, owned */
  GHashTable         *by_id;  /* id → JsonObject, borrowed */
} Collection;

typedef struct
{
  char         *prefix;
  char         *method;   /* NULL: any */
  MhfFakeFault  fault;
} FaultEntry;

typedef struct
{
  gint64 start;
  guint  count;
} RateWindow;

typedef struct
{
  guint       status;
  char       *body;
  gsize       length;
  const char *content_type;
  gint64      reset;
  gboolean    www_authenticate;
  guint       delay_ms;
} Reply;

typedef struct
{
  GPtrArray *q;
  char      *sort;
  char      *order;
  char      *page;
  char      *per_page;
} Query;

typedef struct
{
  const FieldSpec *field;
  const char      *op;
  char            *value;
  GStrv            list;
  gint64           time;
} Condition;

typedef struct
{
  char     *field;
  gboolean  desc;
} SortKey;

struct _MhfFakeCliniko
{
  GObject       parent_instance;

  /* Guards everything below; the server thread and the test thread share it. */
  GMutex        lock;
  GCond         started_cond;

  /* Data */
  GHashTable   *collections;   /* name → Collection */
  JsonObject   *user;
  JsonObject   *settings;
  gint64        anchor;
  guint64       next_id;
  guint64       generation;    /* bumped by every data change */

  /* The last list's filtered, sorted rows (borrowed; rows are never
   * freed before finalize), so walking links.next sorts only once. */
  char         *cache_key;
  GPtrArray    *cache_rows;

  /* Configuration */
  char         *shard;
  GHashTable   *keys;          /* key without shard suffix → owner */
  char         *role;
  gboolean      strict;
  guint         rate_limit;
  gboolean      clock_fixed;
  gint64        clock;
  GPtrArray    *faults;        /* FaultEntry */
  GHashTable   *windows;       /* owner → RateWindow */
  GPtrArray    *requests;      /* MhfFakeRequest */
  GRegex       *user_agent_regex;

  /* Server thread */
  guint         port;
  char         *origin;        /* "http://127.0.0.1:PORT" */
  char         *base_url;      /* origin + "/v1" */
  GThread      *thread;
  GMainContext *context;
  GMainLoop    *loop;
  SoupServer   *server;
  gboolean      started;
  GError       *start_error;
};

G_DEFINE_FINAL_TYPE (MhfFakeCliniko, mhf_fake_cliniko, G_TYPE_OBJECT)

G_DEFINE_QUARK (mhf-fake-cliniko-error-quark, mhf_fake_cliniko_error)

/* Time ------------------------------------------------------------------ */

static gint64
days_from_civil (gint64   y,
                 unsigned m,
                 unsigned d)
{
  gint64 era;
  unsigned yoe, doy, doe;

  y -= m <= 2;
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = (unsigned) (y - era * 400);
  doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (gint64) doe - 719468;
}

static gboolean
read_digits (const char *s,
             guint       n,
             unsigned   *out)
{
  unsigned v = 0;

  for (guint i = 0; i < n; i++)
    {
      if (!g_ascii_isdigit (s[i]))
        return FALSE;
      v = v * 10 + (unsigned) (s[i] - '0');
    }
  *out = v;
  return TRUE;
}

/* Accepts only "YYYY-MM-DDTHH:MM:SS[.fraction]Z", as the API documents. */
static gboolean
parse_utc (const char *s,
           gint64     *out)
{
  unsigned y, mo, d, h, mi, se;
  const char *p;

  if (s == NULL || strlen (s) < 20)
    return FALSE;
  if (!read_digits (s, 4, &y) || s[4] != '-' || !read_digits (s + 5, 2, &mo) ||
      s[7] != '-' || !read_digits (s + 8, 2, &d) || s[10] != 'T' ||
      !read_digits (s + 11, 2, &h) || s[13] != ':' || !read_digits (s + 14, 2, &mi) ||
      s[16] != ':' || !read_digits (s + 17, 2, &se))
    return FALSE;
  p = s + 19;
  if (*p == '.')
    {
      p++;
      if (!g_ascii_isdigit (*p))
        return FALSE;
      while (g_ascii_isdigit (*p))
        p++;
    }
  if (strcmp (p, "Z") != 0)
    return FALSE;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
    return FALSE;
  *out = days_from_civil (y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
  return TRUE;
}

static char *
format_utc (gint64 t)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc (t);

  return g_date_time_format (dt, "%Y-%m-%dT%H:%M:%SZ");
}

static gint64
clock_now (MhfFakeCliniko *self)
{
  if (self->clock_fixed)
    return self->clock;
  return g_get_real_time () / G_USEC_PER_SEC;
}

static void
set_time_member (JsonObject *row,
                 const char *name,
                 gint64      t)
{
  g_autofree char *text = format_utc (t);

  json_object_set_string_member (row, name, text);
}

/* g_set_str() is GLib 2.76. */
static void
set_str (char       **slot,
         const char  *value)
{
  char *copy = g_strdup (value);

  g_free (*slot);
  *slot = copy;
}

/* json_node_copy() shares objects and arrays; rows and replies must not. */
static JsonNode *
node_deep_copy (JsonNode *node)
{
  JsonNode *out;

  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      JsonObject *src = json_node_get_object (node);
      JsonObject *dst = json_object_new ();
      g_autoptr(GList) names = json_object_get_members (src);

      for (GList *l = names; l; l = l->next)
        json_object_set_member (dst, l->data,
                                node_deep_copy (json_object_get_member (src, l->data)));
      out = json_node_new (JSON_NODE_OBJECT);
      json_node_take_object (out, dst);
      return out;
    }
  if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *src = json_node_get_array (node);
      JsonArray *dst = json_array_new ();

      for (guint i = 0; i < json_array_get_length (src); i++)
        json_array_add_element (dst, node_deep_copy (json_array_get_element (src, i)));
      out = json_node_new (JSON_NODE_ARRAY);
      json_node_take_array (out, dst);
      return out;
    }
  return json_node_copy (node);
}

/* Small helpers -------------------------------------------------------- */

static void
collection_free (Collection *coll)
{
  g_ptr_array_unref (coll->rows);
  g_hash_table_unref (coll->by_id);
  g_free (coll);
}

static void
fault_entry_free (FaultEntry *entry)
{
  g_free (entry->prefix);
  g_free (entry->method);
  g_free (entry);
}

void
mhf_fake_request_free (MhfFakeRequest *request)
{
  if (request == NULL)
    return;
  g_free (request->method);
  g_free (request->path);
  g_free (request->query);
  g_strfreev (request->q);
  g_free (request->accept);
  g_free (request->user_agent);
  g_free (request->owner);
  g_free (request);
}

static MhfFakeRequest *
request_copy (const MhfFakeRequest *src)
{
  MhfFakeRequest *copy = g_new0 (MhfFakeRequest, 1);

  copy->method = g_strdup (src->method);
  copy->path = g_strdup (src->path);
  copy->query = g_strdup (src->query);
  copy->q = g_strdupv (src->q);
  copy->accept = g_strdup (src->accept);
  copy->user_agent = g_strdup (src->user_agent);
  copy->has_authorization = src->has_authorization;
  copy->owner = g_strdup (src->owner);
  copy->status = src->status;
  copy->time = src->time;
  return copy;
}

static void
query_clear (Query *query)
{
  g_clear_pointer (&query->q, g_ptr_array_unref);
  g_clear_pointer (&query->sort, g_free);
  g_clear_pointer (&query->order, g_free);
  g_clear_pointer (&query->page, g_free);
  g_clear_pointer (&query->per_page, g_free);
}

static void
condition_clear (gpointer data)
{
  Condition *cond = data;

  g_free (cond->value);
  g_strfreev (cond->list);
}

static void
sort_key_clear (gpointer data)
{
  SortKey *key = data;

  g_free (key->field);
}

static gboolean
node_is_set (JsonNode *node)
{
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return FALSE;
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    return json_node_get_string (node)[0] != '\0';
  return TRUE;
}

static gboolean
member_is_set (JsonObject *row,
               const char *name)
{
  return node_is_set (json_object_get_member (row, name));
}

/* A string id from a string or integer node; NULL when neither. */
static char *
node_dup_id (JsonNode *node)
{
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return NULL;
  if (json_node_get_value_type (node) == G_TYPE_STRING)
    return g_strdup (json_node_get_string (node));
  if (json_node_get_value_type (node) == G_TYPE_INT64)
    return g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (node));
  return NULL;
}

static gboolean
parse_u64 (const char *s,
           guint64    *out)
{
  return s != NULL && s[0] != '\0' &&
         g_ascii_string_to_unsigned (s, 10, 0, G_MAXUINT64, out, NULL);
}

static gboolean
node_get_u64 (JsonNode *node,
              guint64  *out)
{
  g_autofree char *id = node_dup_id (node);

  return parse_u64 (id, out);
}

/* An integer member given as a number or a numeric string (bodies may use
 * either, per the docs). */
static gboolean
member_get_int (JsonObject *obj,
                const char *name,
                gint64     *out)
{
  JsonNode *node = json_object_get_member (obj, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  if (json_node_get_value_type (node) == G_TYPE_INT64)
    {
      *out = json_node_get_int (node);
      return TRUE;
    }
  if (json_node_get_value_type (node) == G_TYPE_STRING)
    return g_ascii_string_to_signed (json_node_get_string (node), 10,
                                     G_MININT64, G_MAXINT64, out, NULL);
  return FALSE;
}

static gboolean
is_all_digits (const char *s)
{
  if (s == NULL || *s == '\0')
    return FALSE;
  for (; *s; s++)
    if (!g_ascii_isdigit (*s))
      return FALSE;
  return TRUE;
}

static const char *
reason_description (int code)
{
  for (guint i = 0; i < G_N_ELEMENTS (cancellation_reasons); i++)
    if (cancellation_reasons[i].code == code)
      return cancellation_reasons[i].description;
  return NULL;
}

static Collection *
get_collection (MhfFakeCliniko *self,
                const char     *name)
{
  return g_hash_table_lookup (self->collections, name);
}

static JsonObject *
find_row (MhfFakeCliniko *self,
          const char     *collection,
          const char     *id)
{
  Collection *coll = get_collection (self, collection);

  if (coll == NULL || id == NULL)
    return NULL;
  return g_hash_table_lookup (coll->by_id, id);
}

/* Replies -------------------------------------------------------------- */

static void
reply_take_json (Reply    *reply,
                 guint     status,
                 JsonNode *root)
{
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) owned = root;

  json_generator_set_root (generator, owned);
  g_free (reply->body);
  reply->body = json_generator_to_data (generator, &reply->length);
  reply->status = status;
  reply->content_type = "application/json; charset=utf-8";
}

static void
reply_message (Reply      *reply,
               guint       status,
               const char *message)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "message");
  json_builder_add_string_value (builder, message);
  json_builder_end_object (builder);
  reply_take_json (reply, status, json_builder_get_root (builder));
}

static void
reply_empty (Reply *reply,
             guint  status)
{
  g_clear_pointer (&reply->body, g_free);
  reply->length = 0;
  reply->status = status;
  reply->content_type = NULL;
}

/* Serialisation -------------------------------------------------------- */

static JsonNode *
link_node (const char *url)
{
  JsonObject *links = json_object_new ();
  JsonObject *wrapper = json_object_new ();
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);

  json_object_set_string_member (links, "self", url);
  json_object_set_object_member (wrapper, "links", links);
  json_node_take_object (node, wrapper);
  return node;
}

static gboolean
is_rel_field (const ResourceSpec *spec,
              const char         *name)
{
  for (const RelSpec *rel = spec->rels; rel->field; rel++)
    if (strcmp (rel->field, name) == 0)
      return TRUE;
  return FALSE;
}

/* The row as the API serves it: internal "_" members and relation ids
 * dropped, relations and sub-collections as absolute links. */
static JsonObject *
serialize_row (MhfFakeCliniko     *self,
               const ResourceSpec *spec,
               JsonObject         *row)
{
  JsonObject *out = json_object_new ();
  g_autoptr(GList) names = json_object_get_members (row);
  g_autofree char *id = node_dup_id (json_object_get_member (row, "id"));
  g_autofree char *self_url = g_strdup_printf ("%s/%s/%s", self->base_url, spec->name, id);
  JsonObject *links;

  for (GList *l = names; l; l = l->next)
    {
      const char *name = l->data;

      if (name[0] == '_' || is_rel_field (spec, name) || strcmp (name, "links") == 0)
        continue;
      json_object_set_member (out, name, node_deep_copy (json_object_get_member (row, name)));
    }

  for (const RelSpec *rel = spec->rels; rel->field; rel++)
    {
      g_autofree char *target = node_dup_id (json_object_get_member (row, rel->field));

      if (target == NULL || target[0] == '\0')
        {
          json_object_set_null_member (out, rel->link);
        }
      else
        {
          g_autofree char *url = g_strdup_printf ("%s/%s/%s", self->base_url, rel->target, target);
          json_object_set_member (out, rel->link, link_node (url));
        }
    }

  for (guint i = 0; spec->subs[i]; i++)
    {
      g_autofree char *sub_url = g_strdup_printf ("%s/%s/%s/%s?page=1", self->base_url,
                                                  spec->name, id, spec->subs[i]);
      json_object_set_member (out, spec->subs[i], link_node (sub_url));
    }

  links = json_object_new ();
  json_object_set_string_member (links, "self", self_url);
  json_object_set_object_member (out, "links", links);
  return out;
}

static JsonNode *
object_node (JsonObject *object)
{
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);

  json_node_take_object (node, object);
  return node;
}

/* Query parsing -------------------------------------------------------- */

static char *
form_decode (const char *s,
             gssize      len)
{
  g_autofree char *copy = g_strndup (s, len < 0 ? strlen (s) : (gsize) len);
  char *decoded;

  /* Form encoding: '+' is a space. */
  for (char *p = copy; *p; p++)
    if (*p == '+')
      *p = ' ';
  decoded = g_uri_unescape_string (copy, NULL);
  return decoded ? decoded : g_steal_pointer (&copy);
}

static void
parse_query (const char *raw,
             Query      *query)
{
  g_auto(GStrv) parts = NULL;

  query->q = g_ptr_array_new_with_free_func (g_free);
  if (raw == NULL)
    return;
  parts = g_strsplit (raw, "&", -1);
  for (guint i = 0; parts[i]; i++)
    {
      const char *eq = strchr (parts[i], '=');
      g_autofree char *name = NULL;
      g_autofree char *value = NULL;

      if (parts[i][0] == '\0')
        continue;
      name = form_decode (parts[i], eq ? eq - parts[i] : -1);
      value = eq ? form_decode (eq + 1, -1) : g_strdup ("");

      if (strcmp (name, "q[]") == 0 || strcmp (name, "q") == 0)
        g_ptr_array_add (query->q, g_steal_pointer (&value));
      else if (strcmp (name, "sort") == 0)
        set_str (&query->sort, value);
      else if (strcmp (name, "order") == 0)
        set_str (&query->order, value);
      else if (strcmp (name, "page") == 0)
        set_str (&query->page, value);
      else if (strcmp (name, "per_page") == 0)
        set_str (&query->per_page, value);
    }
}

static const char *const datetime_ops[] = { ">=", "<=", "!?", ">", "<", "?", "*", NULL };
static const char *const int_ops[] = { "!=", ">=", "<=", "!?", "=", ">", "<", "?", NULL };
static const char *const string_ops[] = { "!=", "~~", "!?", "=", "~", "?", NULL };
static const char *const date_ops[] = { ">=", "<=", "!?", "=", ">", "<", "?", NULL };

static const FieldSpec *
find_filter (const ResourceSpec *spec,
             const char         *name)
{
  for (const FieldSpec *f = spec->filters; f->name; f++)
    if (strcmp (f->name, name) == 0)
      return f;
  return NULL;
}

/* Parses q[] conditions. Sets *show_hidden for "archived_at:*". On a bad
 * condition returns FALSE with a message for a 400 reply. */
static gboolean
parse_conditions (const ResourceSpec *spec,
                  GPtrArray          *q,
                  GArray             *conditions,
                  gboolean           *show_hidden,
                  char              **message)
{
  *show_hidden = FALSE;
  for (guint i = 0; i < q->len; i++)
    {
      const char *text = g_ptr_array_index (q, i);
      const char *colon = strchr (text, ':');
      g_autofree char *name = NULL;
      const char *const *ops;
      const char *rest;
      Condition cond = { 0 };

      if (colon == NULL)
        {
          *message = g_strdup_printf ("Invalid filter “%s”: expected field:OPERATORvalue",
                                      text);
          return FALSE;
        }
      name = g_strndup (text, colon - text);
      rest = colon + 1;
      cond.field = find_filter (spec, name);
      if (cond.field == NULL)
        {
          *message = g_strdup_printf ("Unknown filter field “%s” for %s", name, spec->name);
          return FALSE;
        }
      switch (cond.field->type)
        {
        case FT_DATETIME: ops = datetime_ops; break;
        case FT_INT: ops = int_ops; break;
        case FT_STRING: ops = string_ops; break;
        case FT_DATE: ops = date_ops; break;
        default: g_assert_not_reached ();
        }
      for (guint k = 0; ops[k]; k++)
        if (g_str_has_prefix (rest, ops[k]))
          {
            cond.op = ops[k];
            break;
          }
      if (cond.op == NULL)
        {
          *message = g_strdup_printf ("Unknown operator in filter “%s”", text);
          return FALSE;
        }
      cond.value = g_strdup (rest + strlen (cond.op));

      if (strcmp (cond.op, "?") == 0 || strcmp (cond.op, "!?") == 0 || strcmp (cond.op, "*") == 0)
        {
          if (strcmp (cond.op, "*") == 0 && strcmp (name, "archived_at") == 0)
            *show_hidden = TRUE;
        }
      else if (cond.field->type == FT_DATETIME)
        {
          if (!parse_utc (cond.value, &cond.time))
            {
              *message = g_strdup_printf ("Invalid value for %s: expected a UTC time "
                                          "such as 2014-08-30T18:00:00Z", name);
              condition_clear (&cond);
              return FALSE;
            }
        }
      else if (cond.field->type == FT_INT)
        {
          guint64 v;

          cond.list = g_strsplit (cond.value, ",", -1);
          if (strcmp (cond.op, "=") != 0 && g_strv_length (cond.list) != 1)
            {
              *message = g_strdup_printf ("Only = takes a list, in “%s”", text);
              condition_clear (&cond);
              return FALSE;
            }
          for (guint k = 0; cond.list[k]; k++)
            if (!parse_u64 (cond.list[k], &v))
              {
                *message = g_strdup_printf ("Invalid integer in filter “%s”", text);
                condition_clear (&cond);
                return FALSE;
              }
        }
      g_array_append_val (conditions, cond);
    }
  return TRUE;
}

/* SQL LIKE with '%' only, case-insensitive on ASCII. */
static gboolean
like_match (const char *pattern,
            const char *text)
{
  if (*pattern == '\0')
    return *text == '\0';
  if (*pattern == '%')
    {
      for (const char *t = text;; t++)
        {
          if (like_match (pattern + 1, t))
            return TRUE;
          if (*t == '\0')
            return FALSE;
        }
    }
  if (*text != '\0' && g_ascii_tolower (*pattern) == g_ascii_tolower (*text))
    return like_match (pattern + 1, text + 1);
  return FALSE;
}

static gboolean
date_wildcard_match (const char *pattern,
                     const char *text)
{
  if (strlen (pattern) != strlen (text))
    return FALSE;
  for (; *pattern; pattern++, text++)
    if (*pattern != '*' && *pattern != *text)
      return FALSE;
  return TRUE;
}

static int
cmp_i (gint64 a,
       gint64 b)
{
  return (a > b) - (a < b);
}

static gboolean
op_holds (const char *op,
          int         c)
{
  if (strcmp (op, ">") == 0)
    return c > 0;
  if (strcmp (op, ">=") == 0)
    return c >= 0;
  if (strcmp (op, "<") == 0)
    return c < 0;
  if (strcmp (op, "<=") == 0)
    return c <= 0;
  if (strcmp (op, "=") == 0)
    return c == 0;
  if (strcmp (op, "!=") == 0)
    return c != 0;
  return FALSE;
}

static gboolean
condition_matches (const Condition *cond,
                   JsonObject      *row)
{
  JsonNode *node = json_object_get_member (row, cond->field->name);

  if (strcmp (cond->op, "*") == 0)
    return TRUE;
  if (strcmp (cond->op, "?") == 0)
    return node_is_set (node);
  if (strcmp (cond->op, "!?") == 0)
    return !node_is_set (node);
  if (!node_is_set (node))
    return FALSE;

  switch (cond->field->type)
    {
    case FT_DATETIME:
      {
        gint64 t;

        if (json_node_get_value_type (node) != G_TYPE_STRING ||
            !parse_utc (json_node_get_string (node), &t))
          return FALSE;
        return op_holds (cond->op, cmp_i (t, cond->time));
      }
    case FT_INT:
      {
        guint64 v, w;

        if (!node_get_u64 (node, &v))
          return FALSE;
        if (strcmp (cond->op, "=") == 0)
          {
            for (guint k = 0; cond->list[k]; k++)
              if (parse_u64 (cond->list[k], &w) && v == w)
                return TRUE;
            return FALSE;
          }
        parse_u64 (cond->list[0], &w);
        return op_holds (cond->op, (v > w) - (v < w));
      }
    case FT_STRING:
      {
        const char *s;

        if (json_node_get_value_type (node) != G_TYPE_STRING)
          return FALSE;
        s = json_node_get_string (node);
        if (strcmp (cond->op, "~") == 0)
          {
            g_autofree char *hay = g_utf8_casefold (s, -1);
            g_autofree char *needle = g_utf8_casefold (cond->value, -1);
            return strstr (hay, needle) != NULL;
          }
        if (strcmp (cond->op, "~~") == 0)
          return like_match (cond->value, s);
        return op_holds (cond->op, strcmp (s, cond->value));
      }
    case FT_DATE:
      {
        const char *s;

        if (json_node_get_value_type (node) != G_TYPE_STRING)
          return FALSE;
        s = json_node_get_string (node);
        if (strcmp (cond->op, "=") == 0)
          return date_wildcard_match (cond->value, s);
        return op_holds (cond->op, strcmp (s, cond->value));
      }
    default:
      g_assert_not_reached ();
    }
}

static gboolean
parse_sort (const char  *sort,
            const char  *order,
            GArray      *keys,
            char       **message)
{
  g_auto(GStrv) parts = NULL;
  gboolean default_desc = g_strcmp0 (order, "desc") == 0;

  if (order != NULL && strcmp (order, "asc") != 0 && strcmp (order, "desc") != 0)
    {
      *message = g_strdup ("Invalid order: use asc or desc");
      return FALSE;
    }
  if (sort == NULL || sort[0] == '\0')
    {
      SortKey key = { g_strdup ("created_at"), default_desc };
      g_array_append_val (keys, key);
      return TRUE;
    }
  parts = g_strsplit (sort, ",", -1);
  for (guint i = 0; parts[i]; i++)
    {
      char *colon = strchr (parts[i], ':');
      SortKey key = { NULL, default_desc };

      if (colon)
        {
          *colon = '\0';
          if (strcmp (colon + 1, "desc") == 0)
            key.desc = TRUE;
          else if (strcmp (colon + 1, "asc") == 0)
            key.desc = FALSE;
          else
            {
              *message = g_strdup_printf ("Invalid sort direction “%s”", colon + 1);
              return FALSE;
            }
        }
      if (parts[i][0] == '\0' ||
          strspn (parts[i], "abcdefghijklmnopqrstuvwxyz_") != strlen (parts[i]))
        {
          *message = g_strdup_printf ("Invalid sort field “%s”", parts[i]);
          return FALSE;
        }
      key.field = g_strdup (parts[i]);
      g_array_append_val (keys, key);
    }
  return TRUE;
}

static int
compare_nodes (JsonNode *a,
               JsonNode *b)
{
  gboolean set_a = node_is_set (a), set_b = node_is_set (b);
  GType ta, tb;

  if (!set_a || !set_b)
    return set_a - set_b;
  if (!JSON_NODE_HOLDS_VALUE (a) || !JSON_NODE_HOLDS_VALUE (b))
    return 0;
  ta = json_node_get_value_type (a);
  tb = json_node_get_value_type (b);
  if (ta == G_TYPE_STRING && tb == G_TYPE_STRING)
    {
      const char *sa = json_node_get_string (a), *sb = json_node_get_string (b);

      /* Ids: numeric order, without losing precision above 2^53. */
      if (is_all_digits (sa) && is_all_digits (sb) && strlen (sa) != strlen (sb))
        return strlen (sa) < strlen (sb) ? -1 : 1;
      return g_strcmp0 (sa, sb) < 0 ? -1 : g_strcmp0 (sa, sb) > 0;
    }
  if (ta == G_TYPE_STRING || tb == G_TYPE_STRING)
    return (ta == G_TYPE_STRING) - (tb == G_TYPE_STRING);
  {
    double da = json_node_get_double (a), db = json_node_get_double (b);

    if (ta == G_TYPE_BOOLEAN || tb == G_TYPE_BOOLEAN)
      {
        da = json_node_get_boolean (a);
        db = json_node_get_boolean (b);
      }
    return (da > db) - (da < db);
  }
}

static int
compare_rows (gconstpointer a,
              gconstpointer b,
              gpointer      user_data)
{
  JsonObject *ra = *(JsonObject **) a;
  JsonObject *rb = *(JsonObject **) b;
  GArray *keys = user_data;

  for (guint i = 0; i < keys->len; i++)
    {
      const SortKey *key = &g_array_index (keys, SortKey, i);
      int c = compare_nodes (json_object_get_member (ra, key->field),
                             json_object_get_member (rb, key->field));

      if (c != 0)
        return key->desc ? -c : c;
    }
  return compare_nodes (json_object_get_member (ra, "id"), json_object_get_member (rb, "id"));
}

static gboolean
row_in_view (JsonObject *row,
             View        view,
             gboolean    show_hidden)
{
  gboolean cancelled = member_is_set (row, "cancelled_at");
  gboolean deleted = member_is_set (row, "deleted_at");
  gboolean archived = member_is_set (row, "archived_at");

  switch (view)
    {
    case VIEW_MAIN:
      return !deleted && (show_hidden || (!cancelled && !archived));
    case VIEW_CANCELLED:
      return cancelled && !deleted;
    case VIEW_DELETED:
      return deleted;
    case VIEW_ARCHIVED:
      return archived && !deleted;
    case VIEW_SUB:
      return !deleted;
    default:
      g_assert_not_reached ();
    }
}

static gboolean
parse_positive (const char *text,
                guint      *out)
{
  guint64 v;

  if (!g_ascii_string_to_unsigned (text, 10, 1, G_MAXINT32, &v, NULL))
    return FALSE;
  *out = (guint) v;
  return TRUE;
}

/* The URL of one page; keeps per_page (when given), q[], sort and order. */
static char *
page_url (MhfFakeCliniko *self,
          const char     *path,
          const Query    *query,
          guint           page,
          guint           per_page)
{
  GString *url = g_string_new (self->origin);

  g_string_append (url, path);
  g_string_append_printf (url, "?page=%u", page);
  if (query->per_page)
    g_string_append_printf (url, "&per_page=%u", per_page);
  for (guint i = 0; i < query->q->len; i++)
    {
      g_autofree char *escaped = g_uri_escape_string (g_ptr_array_index (query->q, i), ":,", FALSE);
      g_string_append_printf (url, "&q%%5B%%5D=%s", escaped);
    }
  if (query->sort)
    {
      g_autofree char *escaped = g_uri_escape_string (query->sort, ":,", FALSE);
      g_string_append_printf (url, "&sort=%s", escaped);
    }
  if (query->order)
    {
      g_autofree char *escaped = g_uri_escape_string (query->order, NULL, FALSE);
      g_string_append_printf (url, "&order=%s", escaped);
    }
  return g_string_free (url, FALSE);
}

static void
handle_list (MhfFakeCliniko *self,
             Reply          *reply,
             const char     *path,
             const Query    *query,
             Collection     *coll,
             View            view,
             const char     *envelope,
             const char     *forced_field,
             const char     *forced_id)
{
  g_autoptr(GArray) conditions = g_array_new (FALSE, TRUE, sizeof (Condition));
  g_autoptr(GArray) keys = g_array_new (FALSE, TRUE, sizeof (SortKey));
  g_autoptr(GPtrArray) matched = NULL;
  g_autoptr(GString) cache_key = g_string_new (NULL);
  g_autofree char *message = NULL;
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  gboolean show_hidden = FALSE;
  gboolean minimal = view == VIEW_DELETED && strcmp (coll->spec->name, "patients") == 0;
  guint page = 1, per_page = DEFAULT_PER_PAGE, n_pages;
  g_autofree char *self_url = NULL;

  g_array_set_clear_func (conditions, condition_clear);
  g_array_set_clear_func (keys, sort_key_clear);

  if (!parse_conditions (coll->spec, query->q, conditions, &show_hidden, &message) ||
      !parse_sort (query->sort, query->order, keys, &message))
    {
      reply_message (reply, SOUP_STATUS_BAD_REQUEST, message);
      return;
    }
  if (query->page && !parse_positive (query->page, &page))
    {
      reply_message (reply, SOUP_STATUS_BAD_REQUEST, "page must be a positive integer");
      return;
    }
  if (query->per_page)
    {
      if (!parse_positive (query->per_page, &per_page))
        {
          reply_message (reply, SOUP_STATUS_BAD_REQUEST, "per_page must be between 1 and 100");
          return;
        }
      /* Documented choice: values above the cap are clamped, not refused. */
      per_page = MIN (per_page, MAX_PER_PAGE);
    }

  g_string_printf (cache_key, "%" G_GUINT64_FORMAT "\n%s\n%s\n%s", self->generation, path,
                   query->sort ? query->sort : "", query->order ? query->order : "");
  for (guint i = 0; i < query->q->len; i++)
    g_string_append_printf (cache_key, "\n%s", (const char *) g_ptr_array_index (query->q, i));
  if (self->cache_rows && g_strcmp0 (self->cache_key, cache_key->str) == 0)
    matched = g_ptr_array_ref (self->cache_rows);
  else
    matched = g_ptr_array_new ();

  for (guint i = 0; matched != self->cache_rows && i < coll->rows->len; i++)
    {
      JsonObject *row = g_ptr_array_index (coll->rows, i);
      gboolean ok = row_in_view (row, view, show_hidden);

      if (ok && forced_field)
        {
          g_autofree char *value = node_dup_id (json_object_get_member (row, forced_field));
          ok = g_strcmp0 (value, forced_id) == 0;
        }
      for (guint k = 0; ok && k < conditions->len; k++)
        ok = condition_matches (&g_array_index (conditions, Condition, k), row);
      if (ok)
        g_ptr_array_add (matched, row);
    }
  if (matched != self->cache_rows)
    {
      g_ptr_array_sort_with_data (matched, compare_rows, keys);
      g_clear_pointer (&self->cache_rows, g_ptr_array_unref);
      self->cache_rows = g_ptr_array_ref (matched);
      g_free (self->cache_key);
      self->cache_key = g_string_free (g_steal_pointer (&cache_key), FALSE);
    }

  n_pages = (matched->len + per_page - 1) / per_page;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, envelope);
  json_builder_begin_array (builder);
  for (guint i = (page - 1) * per_page;
       page <= n_pages && i < matched->len && i < page * per_page;
       i++)
    {
      JsonObject *row = g_ptr_array_index (matched, i);

      if (minimal)
        {
          g_autofree char *id = node_dup_id (json_object_get_member (row, "id"));
          g_autofree char *url = g_strdup_printf ("%s/patients/%s", self->base_url, id);
          JsonObject *out = json_object_new ();
          JsonObject *links = json_object_new ();

          json_object_set_member (out, "deleted_at",
                                  node_deep_copy (json_object_get_member (row, "deleted_at")));
          json_object_set_string_member (links, "self", url);
          json_object_set_object_member (out, "links", links);
          json_builder_add_value (builder, object_node (out));
        }
      else
        {
          json_builder_add_value (builder, object_node (serialize_row (self, coll->spec, row)));
        }
    }
  json_builder_end_array (builder);
  json_builder_set_member_name (builder, "total_entries");
  json_builder_add_int_value (builder, matched->len);
  json_builder_set_member_name (builder, "links");
  json_builder_begin_object (builder);
  self_url = page_url (self, path, query, page, per_page);
  json_builder_set_member_name (builder, "self");
  json_builder_add_string_value (builder, self_url);
  if (page < n_pages)
    {
      g_autofree char *url = page_url (self, path, query, page + 1, per_page);
      json_builder_set_member_name (builder, "next");
      json_builder_add_string_value (builder, url);
    }
  if (page > 1)
    {
      g_autofree char *url = page_url (self, path, query,
                                       MIN (page - 1, MAX (n_pages, 1)), per_page);
      json_builder_set_member_name (builder, "previous");
      json_builder_add_string_value (builder, url);
    }
  json_builder_end_object (builder);
  json_builder_end_object (builder);
  reply_take_json (reply, SOUP_STATUS_OK, json_builder_get_root (builder));
}

static void
handle_get_one (MhfFakeCliniko *self,
                Reply          *reply,
                Collection     *coll,
                const char     *id)
{
  JsonObject *row = g_hash_table_lookup (coll->by_id, id);

  if (row == NULL)
    {
      reply_message (reply, SOUP_STATUS_NOT_FOUND, "Not found");
      return;
    }
  reply_take_json (reply, SOUP_STATUS_OK, object_node (serialize_row (self, coll->spec, row)));
}

static JsonObject *
copy_object (JsonObject *object)
{
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  g_autoptr(JsonNode) copy = NULL;

  json_node_set_object (node, object);
  copy = node_deep_copy (node);
  return json_object_ref (json_node_get_object (copy));
}

static void
handle_user (MhfFakeCliniko *self,
             Reply          *reply)
{
  JsonObject *out = copy_object (self->user);
  g_autofree char *id = node_dup_id (json_object_get_member (out, "id"));
  g_autofree char *url = g_strdup_printf ("%s/users/%s", self->base_url, id);
  JsonObject *links = json_object_new ();

  json_object_set_string_member (out, "role", self->role);
  json_object_set_string_member (links, "self", url);
  json_object_set_object_member (out, "links", links);
  reply_take_json (reply, SOUP_STATUS_OK, object_node (out));
}

static void
handle_settings (MhfFakeCliniko *self,
                 Reply          *reply,
                 gboolean        public)
{
  JsonObject *out;
  JsonObject *links;
  g_autofree char *url = NULL;

  /* Only administrators may read the full settings in this fake. */
  if (!public && g_ascii_strcasecmp (self->role, "administrator") != 0)
    {
      reply_message (reply, SOUP_STATUS_FORBIDDEN,
                     "You don’t have permission to access this resource.");
      return;
    }
  out = copy_object (self->settings);
  if (public && json_object_has_member (out, "account"))
    {
      JsonObject *account = json_object_get_object_member (out, "account");
      g_autoptr(GList) names = NULL;

      json_object_remove_member (account, "email_from");
      json_object_remove_member (account, "admin");
      /* Each name is only read before its own member is removed. */
      names = json_object_get_members (account);
      for (GList *l = names; l; l = l->next)
        if (g_str_has_prefix (l->data, "online_bookings_") && g_str_has_suffix (l->data, "_id"))
          json_object_remove_member (account, l->data);
    }
  url = g_strdup_printf ("%s/settings%s", self->base_url, public ? "/public" : "");
  links = json_object_new ();
  json_object_set_string_member (links, "self", url);
  json_object_set_object_member (out, "links", links);
  reply_take_json (reply, SOUP_STATUS_OK, object_node (out));
}

static void
add_error (JsonObject *errors,
           const char *field,
           const char *message)
{
  if (!json_object_has_member (errors, field))
    json_object_set_string_member (errors, field, message);
}

static gboolean
string_present (JsonObject *body,
                const char *name)
{
  JsonNode *node = json_object_get_member (body, name);

  return node && JSON_NODE_HOLDS_VALUE (node) &&
         json_node_get_value_type (node) == G_TYPE_STRING &&
         json_node_get_string (node)[0] != '\0';
}

static JsonObject *
parse_body_object (SoupServerMessage *msg,
                   Reply             *reply)
{
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  g_autoptr(GBytes) bytes = soup_message_body_flatten (body);
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonNode *root;

  if (!json_parser_load_from_data (parser, g_bytes_get_data (bytes, NULL),
                                   g_bytes_get_size (bytes), NULL))
    {
      reply_message (reply, SOUP_STATUS_BAD_REQUEST, "Malformed JSON body");
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      reply_message (reply, SOUP_STATUS_UNPROCESSABLE_ENTITY, "must be an object");
      return NULL;
    }
  return json_object_ref (json_node_get_object (root));
}

static void
reply_validation (Reply      *reply,
                  JsonObject *errors)
{
  JsonObject *out = json_object_new ();

  json_object_set_string_member (out, "message", "Validation Failed");
  json_object_set_object_member (out, "errors", json_object_ref (errors));
  reply_take_json (reply, SOUP_STATUS_UNPROCESSABLE_ENTITY, object_node (out));
}

static void
handle_create_memo (MhfFakeCliniko    *self,
                    SoupServerMessage *msg,
                    Reply             *reply)
{
  g_autoptr(JsonObject) body = parse_body_object (msg, reply);
  g_autoptr(JsonObject) errors = NULL;
  static const char *const type_names[] = { NULL, "SMS", "Email", "Phone call", "Other" };
  Collection *coll = get_collection (self, "communications");
  JsonNode *confidential;
  g_autofree char *patient_id = NULL;
  g_autofree char *id = NULL;
  gint64 direction = 0, type = 0, category = 12, now = clock_now (self);
  g_autofree char *now_text = format_utc (now);
  JsonObject *row;

  if (body == NULL)
    return;
  errors = json_object_new ();

  confidential = json_object_get_member (body, "confidential");
  if (confidential == NULL || JSON_NODE_HOLDS_NULL (confidential))
    add_error (errors, "confidential", "can’t be blank");
  else if (!JSON_NODE_HOLDS_VALUE (confidential) ||
           json_node_get_value_type (confidential) != G_TYPE_BOOLEAN)
    add_error (errors, "confidential", "is not included in the list");

  if (!string_present (body, "content"))
    add_error (errors, "content", "can’t be blank");
  if (!string_present (body, "from"))
    add_error (errors, "from", "can’t be blank");
  if (!string_present (body, "to"))
    add_error (errors, "to", "can’t be blank");

  if (!json_object_has_member (body, "direction_code") ||
      json_object_get_null_member (body, "direction_code"))
    add_error (errors, "direction_code", "can’t be blank");
  else if (!member_get_int (body, "direction_code", &direction) || direction < 1 || direction > 2)
    add_error (errors, "direction_code", "is not included in the list");

  if (!json_object_has_member (body, "type_code") ||
      json_object_get_null_member (body, "type_code"))
    add_error (errors, "type_code", "can’t be blank");
  else if (!member_get_int (body, "type_code", &type) || type < 1 || type > 4)
    add_error (errors, "type_code", "is not included in the list");

  if (json_object_has_member (body, "category_code") &&
      (!member_get_int (body, "category_code", &category) || category != 12))
    add_error (errors, "category_code", "is not included in the list");

  patient_id = node_dup_id (json_object_get_member (body, "patient_id"));
  if (patient_id == NULL || patient_id[0] == '\0')
    add_error (errors, "patient_id", "can’t be blank");
  else if (find_row (self, "patients", patient_id) == NULL)
    add_error (errors, "patient", "must exist");

  if (json_object_get_size (errors) > 0)
    {
      reply_validation (reply, errors);
      return;
    }

  id = g_strdup_printf ("%" G_GUINT64_FORMAT, self->next_id++);
  row = json_object_new ();
  json_object_set_string_member (row, "id", id);
  json_object_set_string_member (row, "category", "Memos");
  json_object_set_int_member (row, "category_code", 12);
  json_object_set_string_member (row, "type", type_names[type]);
  json_object_set_int_member (row, "type_code", type);
  json_object_set_int_member (row, "direction_code", direction);
  json_object_set_string_member (row, "direction_description",
                                 direction == 1 ? "Sent" : "Received");
  json_object_set_string_member (row, "from", json_object_get_string_member (body, "from"));
  json_object_set_string_member (row, "to", json_object_get_string_member (body, "to"));
  json_object_set_string_member (row, "content", json_object_get_string_member (body, "content"));
  json_object_set_null_member (row, "content_subject");
  json_object_set_boolean_member (row, "confidential", json_node_get_boolean (confidential));
  json_object_set_null_member (row, "archived_at");
  json_object_set_string_member (row, "created_at", now_text);
  json_object_set_string_member (row, "updated_at", now_text);
  json_object_set_string_member (row, "patient_id", patient_id);
  g_ptr_array_add (coll->rows, row);
  g_hash_table_insert (coll->by_id, g_strdup (id), row);
  self->generation++;

  reply_take_json (reply, SOUP_STATUS_CREATED, object_node (serialize_row (self, coll->spec, row)));
}

static gboolean
cancel_row (MhfFakeCliniko *self,
            JsonObject     *row,
            int             reason,
            const char     *note)
{
  gint64 now = clock_now (self);
  g_autofree char *now_text = format_utc (now);

  json_object_set_string_member (row, "cancelled_at", now_text);
  json_object_set_int_member (row, "cancellation_reason", reason);
  json_object_set_string_member (row, "cancellation_reason_description",
                                 reason_description (reason) ?: "Other");
  if (note)
    json_object_set_string_member (row, "cancellation_note", note);
  else
    json_object_set_null_member (row, "cancellation_note");
  json_object_set_string_member (row, "updated_at", now_text);
  self->generation++;
  return TRUE;
}

static void
handle_cancel (MhfFakeCliniko    *self,
               SoupServerMessage *msg,
               Reply             *reply,
               const char        *id)
{
  JsonObject *row = find_row (self, "individual_appointments", id);
  g_autoptr(JsonObject) body = NULL;
  gint64 reason;

  if (row == NULL)
    {
      reply_message (reply, SOUP_STATUS_NOT_FOUND, "Not found");
      return;
    }
  body = parse_body_object (msg, reply);
  if (body == NULL)
    return;
  if (!member_get_int (body, "cancellation_reason", &reason) ||
      reason_description ((int) reason) == NULL)
    {
      g_autoptr(JsonObject) errors = json_object_new ();

      add_error (errors, "cancellation_reason", "can’t be blank");
      reply_validation (reply, errors);
      return;
    }
  cancel_row (self, row, (int) reason,
              json_object_has_member (body, "cancellation_note") &&
              !json_object_get_null_member (body, "cancellation_note")
              ? json_object_get_string_member (body, "cancellation_note") : NULL);
  reply_empty (reply, SOUP_STATUS_NO_CONTENT);
}

static void
route (MhfFakeCliniko    *self,
       SoupServerMessage *msg,
       const char        *method,
       const char        *path,
       const Query       *query,
       Reply             *reply)
{
  g_auto(GStrv) segments = NULL;
  guint n;
  Collection *coll;
  gboolean get = strcmp (method, "GET") == 0;

  if (!g_str_has_prefix (path, "/v1/"))
    {
      reply_message (reply, SOUP_STATUS_NOT_FOUND, "Not found");
      return;
    }
  segments = g_strsplit (path + 4, "/", -1);
  n = g_strv_length (segments);
  if (n > 0 && segments[n - 1][0] == '\0')
    g_clear_pointer (&segments[--n], g_free);
  if (n == 0)
    {
      reply_message (reply, SOUP_STATUS_NOT_FOUND, "Not found");
      return;
    }

  coll = get_collection (self, segments[0]);

  if (get && n == 1 && strcmp (segments[0], "user") == 0)
    handle_user (self, reply);
  else if (get && n == 1 && strcmp (segments[0], "settings") == 0)
    handle_settings (self, reply, FALSE);
  else if (get && n == 2 && strcmp (segments[0], "settings") == 0 &&
           strcmp (segments[1], "public") == 0)
    handle_settings (self, reply, TRUE);
  else if (coll && n == 1 && get)
    handle_list (self, reply, path, query, coll, VIEW_MAIN, coll->spec->name, NULL, NULL);
  else if (coll && n == 1 && strcmp (method, "POST") == 0 &&
           strcmp (segments[0], "communications") == 0)
    handle_create_memo (self, msg, reply);
  else if (coll && n == 2 && get && strcmp (segments[1], "cancelled") == 0 &&
           (coll->spec->tombstones & TOMB_CANCELLED))
    handle_list (self, reply, path, query, coll, VIEW_CANCELLED, coll->spec->name, NULL, NULL);
  else if (coll && n == 2 && get && strcmp (segments[1], "deleted") == 0 &&
           (coll->spec->tombstones & TOMB_DELETED))
    handle_list (self, reply, path, query, coll, VIEW_DELETED, coll->spec->name, NULL, NULL);
  else if (coll && n == 2 && get && strcmp (segments[1], "archived") == 0 &&
           (coll->spec->tombstones & TOMB_ARCHIVED))
    handle_list (self, reply, path, query, coll, VIEW_ARCHIVED, coll->spec->name, NULL, NULL);
  else if (coll && n == 2 && get && is_all_digits (segments[1]))
    handle_get_one (self, reply, coll, segments[1]);
  else if (coll && n == 3 && get && is_all_digits (segments[1]))
    {
      const char *name = coll->spec->name;
      const char *sub = segments[2];

      if (g_hash_table_lookup (coll->by_id, segments[1]) == NULL)
        reply_message (reply, SOUP_STATUS_NOT_FOUND, "Not found");
      else if (strcmp (sub, "attendees") == 0 &&
               (strcmp (name, "group_appointments") == 0 ||
                strcmp (name, "individual_appointments") == 0))
        handle_list (self, reply, path, query, get_collection (self, "attendees"), VIEW_SUB,
                     "attendees", "booking_id", segments[1]);
      else if (strcmp (sub, "appointments") == 0 && strcmp (name, "patients") == 0)
        handle_list (self, reply, path, query, get_collection (self, "individual_appointments"),
                     VIEW_SUB, "appointments", "patient_id", segments[1]);
      else if (strcmp (sub, "appointments") == 0 && strcmp (name, "practitioners") == 0)
        handle_list (self, reply, path, query, get_collection (self, "individual_appointments"),
                     VIEW_SUB, "appointments", "practitioner_id", segments[1]);
      else
        reply_message (reply, SOUP_STATUS_NOT_FOUND, "Not found");
    }
  else if (coll && n == 3 && strcmp (method, "PATCH") == 0 &&
           strcmp (segments[0], "individual_appointments") == 0 &&
           strcmp (segments[2], "cancel") == 0)
    handle_cancel (self, msg, reply, segments[1]);
  else if (coll && n <= 2)
    reply_message (reply, SOUP_STATUS_METHOD_NOT_ALLOWED, "Method not allowed");
  else
    reply_message (reply, SOUP_STATUS_NOT_FOUND, "Not found");
}

/* Request pipeline ----------------------------------------------------- */

/* Returns the key's owner, or NULL when the request is not authenticated. */
static const char *
authenticate (MhfFakeCliniko *self,
              const char     *authorization)
{
  g_autofree guchar *decoded = NULL;
  g_autofree char *credentials = NULL;
  gsize len = 0;
  char *colon, *dash;
  const char *suffix = NULL;

  if (authorization == NULL || g_ascii_strncasecmp (authorization, "Basic ", 6) != 0)
    return NULL;
  decoded = g_base64_decode (authorization + 6, &len);
  credentials = g_strndup ((const char *) decoded, len);
  colon = strchr (credentials, ':');
  /* Key as user name, empty password. */
  if (colon == NULL || colon[1] != '\0')
    return NULL;
  *colon = '\0';

  dash = strrchr (credentials, '-');
  if (dash && strlen (dash + 1) >= 3 && strlen (dash + 1) <= 4 &&
      g_ascii_isalnum (dash[1]) && g_ascii_isalnum (dash[2]) &&
      is_all_digits (dash + 3))
    {
      *dash = '\0';
      suffix = dash + 1;
    }
  if (suffix && g_ascii_strcasecmp (suffix, self->shard) != 0)
    return NULL;
  return g_hash_table_lookup (self->keys, credentials);
}

static gboolean
rate_limited (MhfFakeCliniko *self,
              const char     *owner,
              gint64         *reset)
{
  RateWindow *window = g_hash_table_lookup (self->windows, owner);
  gint64 now = clock_now (self);

  if (window == NULL)
    {
      window = g_new0 (RateWindow, 1);
      window->start = now;
      g_hash_table_insert (self->windows, g_strdup (owner), window);
    }
  /* A fixed window that starts with the first request after the last one
   * ended. */
  if (now >= window->start + RATE_WINDOW_SECONDS || now < window->start)
    {
      window->start = now;
      window->count = 0;
    }
  window->count++;
  *reset = window->start + RATE_WINDOW_SECONDS;
  return window->count > self->rate_limit;
}

static const MhfFakeFault *
take_fault (MhfFakeCliniko *self,
            const char     *method,
            const char     *path)
{
  const char *relative = g_str_has_prefix (path, "/v1/") ? path + 3 : path;

  for (guint i = 0; i < self->faults->len; i++)
    {
      FaultEntry *entry = g_ptr_array_index (self->faults, i);

      if (entry->fault.count == 0)
        continue;
      if (entry->method != NULL && g_strcmp0 (entry->method, method) != 0)
        continue;
      if (!g_str_has_prefix (relative, entry->prefix) && !g_str_has_prefix (path, entry->prefix))
        continue;
      if (entry->fault.count > 0)
        entry->fault.count--;
      return &entry->fault;
    }
  return NULL;
}

static void
apply_fault (MhfFakeCliniko     *self,
             const MhfFakeFault *fault,
             Reply              *reply)
{
  reply->delay_ms = fault->delay_ms;
  if (fault->status != 0)
    {
      reply_message (reply, fault->status, "Injected fault");
      if (fault->status == STATUS_TOO_MANY_REQUESTS)
        reply->reset = clock_now (self) + RATE_WINDOW_SECONDS;
    }

  switch (fault->body)
    {
    case MHF_FAKE_BODY_NORMAL:
      break;
    case MHF_FAKE_BODY_MALFORMED:
      g_free (reply->body);
      reply->body = g_strdup ("{\"total_entries\": 1, \"links\": {\"self\": }, ]");
      reply->length = strlen (reply->body);
      reply->content_type = "application/json; charset=utf-8";
      break;
    case MHF_FAKE_BODY_TRUNCATED:
      if (reply->body == NULL)
        reply_message (reply, reply->status, "Injected fault");
      reply->length /= 2;
      break;
    case MHF_FAKE_BODY_NOT_OBJECT:
      g_free (reply->body);
      reply->body = g_strdup ("[\"injected\", \"fault\"]");
      reply->length = strlen (reply->body);
      reply->content_type = "application/json; charset=utf-8";
      break;
    default:
      g_assert_not_reached ();
    }
}

static void
handle_request (MhfFakeCliniko    *self,
                SoupServerMessage *msg,
                MhfFakeRequest    *record,
                const Query       *query,
                Reply             *reply)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  const char *authorization = soup_message_headers_get_one (headers, "Authorization");
  const char *owner;
  const MhfFakeFault *fault;
  gint64 reset;

  if (self->strict)
    {
      const char *content_type = soup_message_headers_get_one (headers, "Content-Type");
      gboolean has_body = soup_server_message_get_request_body (msg)->length > 0;

      if (record->accept == NULL || strstr (record->accept, "application/json") == NULL)
        {
          reply_message (reply, SOUP_STATUS_BAD_REQUEST,
                         "Strict fake Cliniko: send Accept: application/json");
          return;
        }
      if (record->user_agent == NULL ||
          !g_regex_match (self->user_agent_regex, record->user_agent, 0, NULL))
        {
          reply_message (reply, SOUP_STATUS_BAD_REQUEST,
                         "Strict fake Cliniko: send User-Agent: Name (email@domain)");
          return;
        }
      if (has_body &&
          (content_type == NULL || !g_str_has_prefix (content_type, "application/json")))
        {
          reply_message (reply, SOUP_STATUS_BAD_REQUEST,
                         "Strict fake Cliniko: send Content-Type: application/json with a body");
          return;
        }
    }

  owner = authenticate (self, authorization);
  if (owner == NULL)
    {
      /* Rails' plain-text answer, as far as the docs know. */
      g_free (reply->body);
      reply->body = g_strdup ("HTTP Basic: Access denied.\n");
      reply->length = strlen (reply->body);
      reply->content_type = "text/plain; charset=utf-8";
      reply->status = SOUP_STATUS_UNAUTHORIZED;
      reply->www_authenticate = TRUE;
      return;
    }
  record->owner = g_strdup (owner);

  if (rate_limited (self, owner, &reset))
    {
      reply_message (reply, STATUS_TOO_MANY_REQUESTS, "Too Many Requests");
      reply->reset = reset;
      return;
    }

  route (self, msg, record->method, record->path, query, reply);

  fault = take_fault (self, record->method, record->path);
  if (fault)
    apply_fault (self, fault, reply);
}

static gboolean
unpause_cb (gpointer data)
{
  soup_server_message_unpause (data);
  return G_SOURCE_REMOVE;
}

static void
server_cb (SoupServer        *server,
           SoupServerMessage *msg,
           const char        *path,
           GHashTable        *form,
           gpointer           user_data)
{
  MhfFakeCliniko *self = user_data;
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  SoupMessageHeaders *response_headers = soup_server_message_get_response_headers (msg);
  GUri *uri = soup_server_message_get_uri (msg);
  g_autoptr(MhfFakeRequest) record = g_new0 (MhfFakeRequest, 1);
  Query query = { 0 };
  Reply reply = { 0 };

  g_mutex_lock (&self->lock);

  record->method = g_strdup (soup_server_message_get_method (msg));
  record->path = g_strdup (path);
  record->query = g_strdup (g_uri_get_query (uri));
  record->accept = g_strdup (soup_message_headers_get_one (headers, "Accept"));
  record->user_agent = g_strdup (soup_message_headers_get_one (headers, "User-Agent"));
  record->has_authorization = soup_message_headers_get_one (headers, "Authorization") != NULL;
  record->time = clock_now (self);
  parse_query (record->query, &query);
  g_ptr_array_add (query.q, NULL);
  record->q = g_strdupv ((GStrv) query.q->pdata);
  g_ptr_array_remove_index (query.q, query.q->len - 1);

  handle_request (self, msg, record, &query, &reply);

  record->status = reply.status;
  g_ptr_array_add (self->requests, g_steal_pointer (&record));
  g_mutex_unlock (&self->lock);

  soup_server_message_set_status (msg, reply.status, NULL);
  if (reply.reset > 0)
    {
      g_autofree char *value = g_strdup_printf ("%" G_GINT64_FORMAT, reply.reset);
      soup_message_headers_replace (response_headers, "X-RateLimit-Reset", value);
    }
  if (reply.www_authenticate)
    soup_message_headers_replace (response_headers, "WWW-Authenticate",
                                  "Basic realm=\"Application\"");
  if (reply.body)
    soup_server_message_set_response (msg, reply.content_type, SOUP_MEMORY_TAKE,
                                      g_steal_pointer (&reply.body), reply.length);

  if (reply.delay_ms > 0)
    {
      g_autoptr(GSource) source = g_timeout_source_new (reply.delay_ms);

      soup_server_message_pause (msg);
      g_source_set_callback (source, unpause_cb, g_object_ref (msg), g_object_unref);
      g_source_attach (source, g_main_context_get_thread_default ());
    }
  query_clear (&query);
}

/* Loading -------------------------------------------------------------- */

/* "@<signed seconds>" in a *_at member → an absolute UTC time. */
static void
resolve_times (MhfFakeCliniko *self,
               JsonObject     *row)
{
  g_autoptr(GList) names = json_object_get_members (row);

  for (GList *l = names; l; l = l->next)
    {
      const char *name = l->data;
      JsonNode *node = json_object_get_member (row, name);
      const char *text;
      gint64 offset;

      if (!g_str_has_suffix (name, "_at") || !JSON_NODE_HOLDS_VALUE (node) ||
          json_node_get_value_type (node) != G_TYPE_STRING)
        continue;
      text = json_node_get_string (node);
      if (text[0] != '@')
        continue;
      if (!g_ascii_string_to_signed (text + (text[1] == '+' ? 2 : 1), 10,
                                     G_MININT64 / 2, G_MAXINT64 / 2, &offset, NULL))
        continue;
      set_time_member (row, name, self->anchor + offset);
    }
}

static gboolean
load_fixture (MhfFakeCliniko *self,
              const char     *path,
              GError        **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) local_error = NULL;
  JsonObject *root;

  if (!json_parser_load_from_file (parser, path, &local_error))
    {
      g_set_error (error, MHF_FAKE_CLINIKO_ERROR, MHF_FAKE_CLINIKO_ERROR_FIXTURE,
                   "Cannot load fixture: %s", local_error->message);
      return FALSE;
    }
  if (!JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_set_error (error, MHF_FAKE_CLINIKO_ERROR, MHF_FAKE_CLINIKO_ERROR_FIXTURE,
                   "Fixture root is not an object");
      return FALSE;
    }
  root = json_node_get_object (json_parser_get_root (parser));

  if (json_object_has_member (root, "shard"))
    set_str (&self->shard, json_object_get_string_member (root, "shard"));
  if (json_object_has_member (root, "api_keys"))
    {
      JsonArray *keys = json_object_get_array_member (root, "api_keys");

      for (guint i = 0; i < json_array_get_length (keys); i++)
        {
          JsonObject *entry = json_array_get_object_element (keys, i);

          const char *owner = json_object_get_string_member_with_default (entry, "owner", "1");

          mhf_fake_cliniko_add_api_key (self, json_object_get_string_member (entry, "key"), owner);
        }
    }
  self->user = json_object_has_member (root, "user")
               ? copy_object (json_object_get_object_member (root, "user"))
               : json_object_new ();
  if (!json_object_has_member (self->user, "id"))
    json_object_set_string_member (self->user, "id", "1");
  resolve_times (self, self->user);
  self->settings = json_object_has_member (root, "settings")
                   ? copy_object (json_object_get_object_member (root, "settings"))
                   : json_object_new ();

  for (guint s = 0; s < G_N_ELEMENTS (resource_specs); s++)
    {
      const ResourceSpec *spec = &resource_specs[s];
      Collection *coll = g_new0 (Collection, 1);
      JsonArray *array = NULL;

      coll->spec = spec;
      coll->rows = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
      coll->by_id = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      g_hash_table_insert (self->collections, (char *) spec->name, coll);

      if (json_object_has_member (root, spec->name))
        array = json_object_get_array_member (root, spec->name);
      for (guint i = 0; array && i < json_array_get_length (array); i++)
        {
          JsonNode *element = json_array_get_element (array, i);
          JsonObject *row;
          g_autofree char *id = NULL;

          if (!JSON_NODE_HOLDS_OBJECT (element))
            {
              g_set_error (error, MHF_FAKE_CLINIKO_ERROR, MHF_FAKE_CLINIKO_ERROR_FIXTURE,
                           "%s[%u] is not an object", spec->name, i);
              return FALSE;
            }
          row = copy_object (json_node_get_object (element));
          id = node_dup_id (json_object_get_member (row, "id"));
          if (id == NULL || !is_all_digits (id) || g_hash_table_contains (coll->by_id, id))
            {
              json_object_unref (row);
              g_set_error (error, MHF_FAKE_CLINIKO_ERROR, MHF_FAKE_CLINIKO_ERROR_FIXTURE,
                           "%s[%u] has a missing or duplicate id", spec->name, i);
              return FALSE;
            }
          /* Ids are always served as strings. */
          json_object_set_string_member (row, "id", id);
          resolve_times (self, row);
          g_ptr_array_add (coll->rows, row);
          g_hash_table_insert (coll->by_id, g_steal_pointer (&id), row);
        }
    }
  return TRUE;
}

/* Server thread -------------------------------------------------------- */

static gpointer
server_thread_func (gpointer data)
{
  MhfFakeCliniko *self = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  gboolean ok;

  g_main_context_push_thread_default (self->context);

  self->server = soup_server_new ("server-header", "MhfFakeCliniko ", NULL);
  soup_server_add_handler (self->server, NULL, server_cb, self, NULL);
  address = g_inet_socket_address_new_from_string ("127.0.0.1", self->port);
  ok = soup_server_listen (self->server, address, 0, &error);

  g_mutex_lock (&self->lock);
  if (ok)
    {
      /* Not soup_server_get_uris(): libsoup 3.2 leaks an address there. */
      GSList *listeners = soup_server_get_listeners (self->server);
      g_autoptr(GSocketAddress) local = g_socket_get_local_address (listeners->data, NULL);

      g_slist_free (listeners);
      self->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
      g_free (self->origin);
      g_free (self->base_url);
      self->origin = g_strdup_printf ("http://127.0.0.1:%u", self->port);
      self->base_url = g_strdup_printf ("%s/v1", self->origin);
    }
  else
    {
      self->start_error = g_steal_pointer (&error);
    }
  self->started = TRUE;
  g_cond_broadcast (&self->started_cond);
  g_mutex_unlock (&self->lock);

  if (ok)
    g_main_loop_run (self->loop);

  soup_server_disconnect (self->server);
  g_clear_object (&self->server);
  while (g_main_context_iteration (self->context, FALSE))
    ;
  g_main_context_pop_thread_default (self->context);
  return NULL;
}

/* GObject -------------------------------------------------------------- */

static void
mhf_fake_cliniko_dispose (GObject *object)
{
  MhfFakeCliniko *self = MHF_FAKE_CLINIKO (object);

  mhf_fake_cliniko_stop (self);

  G_OBJECT_CLASS (mhf_fake_cliniko_parent_class)->dispose (object);
}

static void
mhf_fake_cliniko_finalize (GObject *object)
{
  MhfFakeCliniko *self = MHF_FAKE_CLINIKO (object);

  g_clear_pointer (&self->cache_rows, g_ptr_array_unref);
  g_clear_pointer (&self->cache_key, g_free);
  g_clear_pointer (&self->collections, g_hash_table_unref);
  g_clear_pointer (&self->user, json_object_unref);
  g_clear_pointer (&self->settings, json_object_unref);
  g_clear_pointer (&self->shard, g_free);
  g_clear_pointer (&self->keys, g_hash_table_unref);
  g_clear_pointer (&self->role, g_free);
  g_clear_pointer (&self->faults, g_ptr_array_unref);
  g_clear_pointer (&self->windows, g_hash_table_unref);
  g_clear_pointer (&self->requests, g_ptr_array_unref);
  g_clear_pointer (&self->user_agent_regex, g_regex_unref);
  g_clear_pointer (&self->origin, g_free);
  g_clear_pointer (&self->base_url, g_free);
  g_clear_error (&self->start_error);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->started_cond);

  G_OBJECT_CLASS (mhf_fake_cliniko_parent_class)->finalize (object);
}

static void
mhf_fake_cliniko_class_init (MhfFakeClinikoClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = mhf_fake_cliniko_dispose;
  object_class->finalize = mhf_fake_cliniko_finalize;
}

static void
mhf_fake_cliniko_init (MhfFakeCliniko *self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->started_cond);
  self->collections = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                             (GDestroyNotify) collection_free);
  self->keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->windows = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->faults = g_ptr_array_new_with_free_func ((GDestroyNotify) fault_entry_free);
  self->requests = g_ptr_array_new_with_free_func ((GDestroyNotify) mhf_fake_request_free);
  self->shard = g_strdup ("au2");
  self->role = g_strdup ("administrator");
  self->strict = TRUE;
  self->rate_limit = DEFAULT_RATE_LIMIT;
  self->next_id = FIRST_CREATED_ID;
  self->anchor = (g_get_real_time () / G_USEC_PER_SEC) / 86400 * 86400;
  self->origin = g_strdup ("http://127.0.0.1:0");
  self->base_url = g_strdup ("http://127.0.0.1:0/v1");
  /* "Name (email@domain)": a product name, then a contact address. */
  self->user_agent_regex = g_regex_new ("^\\S.* \\([^\\s()@]+@[^\\s()@]+\\.[^\\s()@]+\\)$",
                                        G_REGEX_OPTIMIZE, 0, NULL);
}

/* Public API ----------------------------------------------------------- */

/**
 * mhf_fake_cliniko_new:
 * @fixture_path: a fixture written by make-sample-clinic.py (or alike)
 *
 * Loads the fixture; relative times are anchored at 00:00:00Z of today.
 * The server is not started yet.
 */
MhfFakeCliniko *
mhf_fake_cliniko_new (const char  *fixture_path,
                      GError     **error)
{
  g_autoptr(MhfFakeCliniko) self = NULL;

  g_return_val_if_fail (fixture_path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_object_new (MHF_TYPE_FAKE_CLINIKO, NULL);
  if (!load_fixture (self, fixture_path, error))
    return NULL;
  return g_steal_pointer (&self);
}

void
mhf_fake_cliniko_set_port (MhfFakeCliniko *self,
                           guint           port)
{
  g_return_if_fail (MHF_IS_FAKE_CLINIKO (self));
  g_return_if_fail (self->thread == NULL);

  self->port = port;
}

void
mhf_fake_cliniko_set_shard (MhfFakeCliniko *self,
                            const char     *shard)
{
  g_return_if_fail (MHF_IS_FAKE_CLINIKO (self));
  g_return_if_fail (shard != NULL);

  g_mutex_lock (&self->lock);
  set_str (&self->shard, shard);
  g_mutex_unlock (&self->lock);
}

const char *
mhf_fake_cliniko_get_shard (MhfFakeCliniko *self)
{
  g_return_val_if_fail (MHF_IS_FAKE_CLINIKO (self), NULL);

  return self->shard;
}

/**
 * mhf_fake_cliniko_add_api_key:
 * @key: a key, with or without its "-shard" suffix
 * @owner: the Cliniko user the key belongs to; keys of one owner share
 *   one rate-limit window
 */
void
mhf_fake_cliniko_add_api_key (MhfFakeCliniko *self,
                              const char     *key,
                              const char     *owner)
{
  g_autofree char *base = NULL;
  char *dash;

  g_return_if_fail (MHF_IS_FAKE_CLINIKO (self));
  g_return_if_fail (key != NULL && owner != NULL);

  base = g_strdup (key);
  dash = strrchr (base, '-');
  if (dash && strlen (dash + 1) >= 3 && strlen (dash + 1) <= 4 &&
      g_ascii_isalnum (dash[1]) && g_ascii_isalnum (dash[2]) && is_all_digits (dash + 3))
    *dash = '\0';

  g_mutex_lock (&self->lock);
  g_hash_table_replace (self->keys, g_steal_pointer (&base), g_strdup (owner));
  g_mutex_unlock (&self->lock);
}

void
mhf_fake_cliniko_clear_api_keys (MhfFakeCliniko *self)
{
  g_return_if_fail (MHF_IS_FAKE_CLINIKO (self));

  g_mutex_lock (&self->lock);
  g_hash_table_remove_all (self->keys);
  g_mutex_unlock (&self->lock);
}

/**
 * mhf_fake_cliniko_set_role:
 *
 * The role of the key's user, shown by GET /user. Only "administrator"
 * may read GET /settings; any other role gets 403 there.
 */
void
mhf_fake_cliniko_set_role (MhfFakeCliniko *self,
                           const char     *role)
{
  g_return_if_fail (MHF_IS_FAKE_CLINIKO (self));
  g_return_if_fail (role != NULL);

  g_mutex_lock (&self->lock);
  set_str (&self->role, role);
  g_mutex_unlock (&self->lock);
}

/**
 * mhf_fake_cliniko_set_strict:
 *
 * Strict mode (the default) answers 400 with a JSON message to requests
 * without "Accept: application/json", without a "Name (email@domain)"
 * User-Agent, or with a body but no "Content-Type: application/json".
 * The real API does not (yet) refuse them.
 */
void
mhf_fake_cliniko_set_strict (MhfFakeCliniko *self,
                             gboolean        strict)
{
  g_return_if_fail (MHF_IS_FAKE_CLINIKO (self));

  g_mutex_lock (&self->lock);
  self->strict = !!strict;
  g_mutex_unlock (&self->lock);
}

void
mhf_fake_cliniko_set_rate_limit (MhfFakeCliniko *self,
                                 guint           per_minute)
{
  g_return_if_fail (MHF_IS_FAKE_CLINIKO (self));
  g_return_if_fail (per_minute > 0);

  g_mutex_lock (&self->lock);
  self->rate_limit = per_minute;
  g_mutex_unlock (&self->lock);
}

/**
 * mhf_fake_cliniko_set_clock:
 *
 * Freezes the fake's clock at @unix_seconds. It drives the rate limit,
 * the request log and timestamps that mutations and memos write. It does
 * not move the fixture's anchor.
 */
void
mhf_fake_cliniko_set_clock (MhfFakeCliniko *self,
                            gint64          unix_seconds)
{
  g_return_if_fail (MHF_IS_FAKE_CLINIKO (self));

  g_mutex_lock (&self->lock);
  self->clock_fixed = TRUE;
  self->clock = unix_seconds;
  g_mutex_unlock (&self->lock);
}

/* Freezes the clock first if it still follows real time. */
void
mhf_fake_cliniko_advance_clock (MhfFakeCliniko *self,
                                gint64          seconds)
{
  g_return_if_fail (MHF_IS_FAKE_CLINIKO (self));

  g_mutex_lock (&self->lock);
  self->clock = clock_now (self) + seconds;
  self->clock_fixed = TRUE;
  g_mutex_unlock (&self->lock);
}

gint64
mhf_fake_cliniko_get_clock (MhfFakeCliniko *self)
{
  gint64 now;

  g_return_val_if_fail (MHF_IS_FAKE_CLINIKO (self), 0);

  g_mutex_lock (&self->lock);
  now = clock_now (self);
  g_mutex_unlock (&self->lock);
  return now;
}

/* 00:00:00Z of the day the fixture was loaded; "@0" in the fixture. */
gint64
mhf_fake_cliniko_get_anchor (MhfFakeCliniko *self)
{
  g_return_val_if_fail (MHF_IS_FAKE_CLINIKO (self), 0);

  return self->anchor;
}

/**
 * mhf_fake_cliniko_add_fault:
 * @path_prefix: matched against the path below /v1 ("/patients") or the
 *   full path ("/v1/patients"); "/" hits everything
 *
 * Faults apply to requests that passed the header, auth and rate checks,
 * first added first; each use decrements @fault->count.
 */
void
mhf_fake_cliniko_add_fault (MhfFakeCliniko     *self,
                            const char         *path_prefix,
                            const MhfFakeFault *fault)
{
  FaultEntry *entry;

  g_return_if_fail (MHF_IS_FAKE_CLINIKO (self));
  g_return_if_fail (path_prefix != NULL && fault != NULL);

  entry = g_new0 (FaultEntry, 1);
  entry->prefix = g_strdup (path_prefix);
  entry->method = g_strdup (fault->method);
  entry->fault = *fault;
  entry->fault.method = entry->method;
  g_mutex_lock (&self->lock);
  g_ptr_array_add (self->faults, entry);
  g_mutex_unlock (&self->lock);
}

void
mhf_fake_cliniko_clear_faults (MhfFakeCliniko *self)
{
  g_return_if_fail (MHF_IS_FAKE_CLINIKO (self));

  g_mutex_lock (&self->lock);
  g_ptr_array_set_size (self->faults, 0);
  g_mutex_unlock (&self->lock);
}

/**
 * mhf_fake_cliniko_start:
 *
 * Listens on 127.0.0.1 (a random port unless set) and serves from a
 * thread of its own. Returns once the socket is listening.
 */
gboolean
mhf_fake_cliniko_start (MhfFakeCliniko  *self,
                        GError         **error)
{
  g_return_val_if_fail (MHF_IS_FAKE_CLINIKO (self), FALSE);
  g_return_val_if_fail (self->thread == NULL, FALSE);

  self->context = g_main_context_new ();
  self->loop = g_main_loop_new (self->context, FALSE);
  self->started = FALSE;
  g_clear_error (&self->start_error);
  self->thread = g_thread_new ("mhf-fake-cliniko", server_thread_func, self);

  g_mutex_lock (&self->lock);
  while (!self->started)
    g_cond_wait (&self->started_cond, &self->lock);
  g_mutex_unlock (&self->lock);

  if (self->start_error)
    {
      g_propagate_prefixed_error (error, g_steal_pointer (&self->start_error),
                                  "Cannot listen: ");
      mhf_fake_cliniko_stop (self);
      return FALSE;
    }
  g_message ("Fake Cliniko listening on port %u", self->port);
  return TRUE;
}

void
mhf_fake_cliniko_stop (MhfFakeCliniko *self)
{
  g_return_if_fail (MHF_IS_FAKE_CLINIKO (self));

  if (self->thread == NULL)
    return;
  g_main_loop_quit (self->loop);
  g_thread_join (g_steal_pointer (&self->thread));
  g_clear_pointer (&self->loop, g_main_loop_unref);
  g_clear_pointer (&self->context, g_main_context_unref);
}

/* "http://127.0.0.1:PORT/v1"; valid once started. */
const char *
mhf_fake_cliniko_get_base_url (MhfFakeCliniko *self)
{
  g_return_val_if_fail (MHF_IS_FAKE_CLINIKO (self), NULL);

  return self->base_url;
}

/**
 * mhf_fake_cliniko_get_requests:
 *
 * Returns: (transfer full): a snapshot of the request log, oldest first
 */
GPtrArray *
mhf_fake_cliniko_get_requests (MhfFakeCliniko *self)
{
  GPtrArray *copy;

  g_return_val_if_fail (MHF_IS_FAKE_CLINIKO (self), NULL);

  g_mutex_lock (&self->lock);
  copy = g_ptr_array_new_full (self->requests->len, (GDestroyNotify) mhf_fake_request_free);
  for (guint i = 0; i < self->requests->len; i++)
    g_ptr_array_add (copy, request_copy (g_ptr_array_index (self->requests, i)));
  g_mutex_unlock (&self->lock);
  return copy;
}

/* @method and @path_prefix may be NULL to match any. */
guint
mhf_fake_cliniko_count_requests (MhfFakeCliniko *self,
                                 const char     *method,
                                 const char     *path_prefix)
{
  guint count = 0;

  g_return_val_if_fail (MHF_IS_FAKE_CLINIKO (self), 0);

  g_mutex_lock (&self->lock);
  for (guint i = 0; i < self->requests->len; i++)
    {
      MhfFakeRequest *request = g_ptr_array_index (self->requests, i);

      if (method && strcmp (method, request->method) != 0)
        continue;
      if (path_prefix && !g_str_has_prefix (request->path, path_prefix))
        continue;
      count++;
    }
  g_mutex_unlock (&self->lock);
  return count;
}

void
mhf_fake_cliniko_clear_requests (MhfFakeCliniko *self)
{
  g_return_if_fail (MHF_IS_FAKE_CLINIKO (self));

  g_mutex_lock (&self->lock);
  g_ptr_array_set_size (self->requests, 0);
  g_mutex_unlock (&self->lock);
}

/**
 * mhf_fake_cliniko_dup_record_json:
 *
 * Returns: (transfer full) (nullable): the record as GET /@collection/@id
 *   would serve it, or NULL if unknown
 */
char *
mhf_fake_cliniko_dup_record_json (MhfFakeCliniko *self,
                                  const char     *collection,
                                  const char     *id)
{
  g_autoptr(JsonGenerator) generator = NULL;
  g_autoptr(JsonNode) node = NULL;
  JsonObject *row;

  g_return_val_if_fail (MHF_IS_FAKE_CLINIKO (self), NULL);
  g_return_val_if_fail (collection != NULL && id != NULL, NULL);

  g_mutex_lock (&self->lock);
  row = find_row (self, collection, id);
  if (row)
    node = object_node (serialize_row (self, get_collection (self, collection)->spec, row));
  g_mutex_unlock (&self->lock);
  if (node == NULL)
    return NULL;
  generator = json_generator_new ();
  json_generator_set_root (generator, node);
  return json_generator_to_data (generator, NULL);
}

guint
mhf_fake_cliniko_count_records (MhfFakeCliniko *self,
                                const char     *collection)
{
  Collection *coll;
  guint n;

  g_return_val_if_fail (MHF_IS_FAKE_CLINIKO (self), 0);

  g_mutex_lock (&self->lock);
  coll = get_collection (self, collection);
  n = coll ? coll->rows->len : 0;
  g_mutex_unlock (&self->lock);
  return n;
}

/* Sets cancelled_at (now), the reason and its description, the note, and
 * bumps updated_at. */
gboolean
mhf_fake_cliniko_cancel_appointment (MhfFakeCliniko *self,
                                     const char     *id,
                                     int             reason,
                                     const char     *note)
{
  JsonObject *row;

  g_return_val_if_fail (MHF_IS_FAKE_CLINIKO (self), FALSE);

  g_mutex_lock (&self->lock);
  row = find_row (self, "individual_appointments", id);
  if (row)
    cancel_row (self, row, reason, note);
  g_mutex_unlock (&self->lock);
  return row != NULL;
}

/* Moves starts_at to @starts_at (unix seconds), keeping the duration, and
 * bumps updated_at. Works on individual and group appointments. */
gboolean
mhf_fake_cliniko_reschedule_appointment (MhfFakeCliniko *self,
                                         const char     *id,
                                         gint64          starts_at)
{
  JsonObject *row;

  g_return_val_if_fail (MHF_IS_FAKE_CLINIKO (self), FALSE);

  g_mutex_lock (&self->lock);
  row = find_row (self, "individual_appointments", id);
  if (row == NULL)
    row = find_row (self, "group_appointments", id);
  if (row)
    {
      gint64 start = 0, end = 0;

      parse_utc (json_object_get_string_member_with_default (row, "starts_at", ""), &start);
      parse_utc (json_object_get_string_member_with_default (row, "ends_at", ""), &end);
      set_time_member (row, "starts_at", starts_at);
      set_time_member (row, "ends_at", starts_at + MAX (end - start, 0));
      set_time_member (row, "updated_at", clock_now (self));
    }
  self->generation++;
  g_mutex_unlock (&self->lock);
  return row != NULL;
}

gboolean
mhf_fake_cliniko_delete_appointment (MhfFakeCliniko *self,
                                     const char     *id)
{
  JsonObject *row;

  g_return_val_if_fail (MHF_IS_FAKE_CLINIKO (self), FALSE);

  g_mutex_lock (&self->lock);
  row = find_row (self, "individual_appointments", id);
  if (row == NULL)
    row = find_row (self, "group_appointments", id);
  if (row)
    {
      set_time_member (row, "deleted_at", clock_now (self));
      set_time_member (row, "updated_at", clock_now (self));
    }
  self->generation++;
  g_mutex_unlock (&self->lock);
  return row != NULL;
}

/* @value: 1 true, 0 false, -1 null. */
gboolean
mhf_fake_cliniko_set_did_not_arrive (MhfFakeCliniko *self,
                                     const char     *id,
                                     int             value)
{
  JsonObject *row;

  g_return_val_if_fail (MHF_IS_FAKE_CLINIKO (self), FALSE);

  g_mutex_lock (&self->lock);
  row = find_row (self, "individual_appointments", id);
  if (row)
    {
      if (value < 0)
        json_object_set_null_member (row, "did_not_arrive");
      else
        json_object_set_boolean_member (row, "did_not_arrive", value != 0);
      set_time_member (row, "updated_at", clock_now (self));
    }
  self->generation++;
  g_mutex_unlock (&self->lock);
  return row != NULL;
}

gboolean
mhf_fake_cliniko_archive_patient (MhfFakeCliniko *self,
                                  const char     *id)
{
  JsonObject *row;

  g_return_val_if_fail (MHF_IS_FAKE_CLINIKO (self), FALSE);

  g_mutex_lock (&self->lock);
  row = find_row (self, "patients", id);
  if (row)
    {
      set_time_member (row, "archived_at", clock_now (self));
      set_time_member (row, "updated_at", clock_now (self));
    }
  self->generation++;
  g_mutex_unlock (&self->lock);
  return row != NULL;
}

/* @email: NULL stores null; "" and invalid addresses are stored as given. */
gboolean
mhf_fake_cliniko_set_patient_email (MhfFakeCliniko *self,
                                    const char     *id,
                                    const char     *email)
{
  JsonObject *row;

  g_return_val_if_fail (MHF_IS_FAKE_CLINIKO (self), FALSE);

  g_mutex_lock (&self->lock);
  row = find_row (self, "patients", id);
  if (row)
    {
      if (email)
        json_object_set_string_member (row, "email", email);
      else
        json_object_set_null_member (row, "email");
      set_time_member (row, "updated_at", clock_now (self));
    }
  self->generation++;
  g_mutex_unlock (&self->lock);
  return row != NULL;
}

gboolean
mhf_fake_cliniko_set_patient_reminder_type (MhfFakeCliniko *self,
                                            const char     *id,
                                            const char     *reminder_type)
{
  JsonObject *row;

  g_return_val_if_fail (MHF_IS_FAKE_CLINIKO (self), FALSE);
  g_return_val_if_fail (reminder_type != NULL, FALSE);

  g_mutex_lock (&self->lock);
  row = find_row (self, "patients", id);
  if (row)
    {
      json_object_set_string_member (row, "reminder_type", reminder_type);
      set_time_member (row, "updated_at", clock_now (self));
    }
  self->generation++;
  g_mutex_unlock (&self->lock);
  return row != NULL;
}
