/* test-fake-cliniko.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The fake Cliniko against an async libsoup client in the test thread,
 * with the server in its own thread. Expected counts are computed from the
 * fixture file itself, not copied from the fake.
 */

#include "config.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>

#include "mhf-fake-cliniko.h"

#define KEY "MS0xLTEyMzQ1Njc4OTAtYWJj-au2"
#define KEY_OTHER_SAME_OWNER "MS0yLTk4NzY1NDMyMTAtemF5-au2"
#define KEY_NO_SUFFIX "MS0xLTEyMzQ1Njc4OTAtYWJj"
#define KEY_WRONG_SHARD "MS0xLTEyMzQ1Njc4OTAtYWJj-uk1"
#define KEY_WRONG "MS0xLTAwMDAwMDAwMDAtYWJj-au2"
#define USER_AGENT "MHF Tests (tests@example.com)"
#define BIG_ID "836447129235883061"

typedef struct
{
  MhfFakeCliniko *fake;
  SoupSession    *session;
  JsonParser     *parser;   /* the raw fixture, for expectations */
  JsonObject     *data;
  gint64          anchor;
} Fixture;

typedef struct
{
  guint               status;
  GBytes             *body;
  SoupMessageHeaders *headers;
  JsonNode           *json;   /* NULL when the body is not JSON */
} Response;

typedef enum
{
  SEND_DEFAULT     = 0,
  SEND_NO_ACCEPT   = 1 << 0,
  SEND_BAD_AGENT   = 1 << 1,
  SEND_PASSWORD    = 1 << 2,
} SendFlags;

static void
response_free (Response *r)
{
  g_clear_pointer (&r->body, g_bytes_unref);
  g_clear_pointer (&r->headers, soup_message_headers_unref);
  g_clear_pointer (&r->json, json_node_unref);
  g_free (r);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Response, response_free)

typedef struct
{
  GBytes  *bytes;
  GError  *error;
  gboolean done;
} Wait;

static void
send_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      data)
{
  Wait *wait = data;

  wait->bytes = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &wait->error);
  wait->done = TRUE;
}

static Response *
send_full (Fixture    *f,
           const char *method,
           const char *url_or_path,
           const char *key,
           SendFlags   flags,
           const char *body)
{
  g_autofree char *url = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  SoupMessageHeaders *headers;
  Response *r = g_new0 (Response, 1);
  Wait wait = { 0 };

  if (g_str_has_prefix (url_or_path, "http"))
    url = g_strdup (url_or_path);
  else
    url = g_strconcat (mhf_fake_cliniko_get_base_url (f->fake), url_or_path, NULL);
  msg = soup_message_new (method, url);
  g_assert_nonnull (msg);
  headers = soup_message_get_request_headers (msg);
  if (!(flags & SEND_NO_ACCEPT))
    soup_message_headers_replace (headers, "Accept", "application/json");
  soup_message_headers_replace (headers, "User-Agent",
                                (flags & SEND_BAD_AGENT) ? "curl/8.0" : USER_AGENT);
  if (key)
    {
      g_autofree char *userpass = g_strconcat (key, (flags & SEND_PASSWORD) ? ":x" : ":", NULL);
      g_autofree char *b64 = g_base64_encode ((const guchar *) userpass, strlen (userpass));
      g_autofree char *value = g_strconcat ("Basic ", b64, NULL);

      soup_message_headers_replace (headers, "Authorization", value);
    }
  if (body)
    {
      g_autoptr(GBytes) bytes = g_bytes_new (body, strlen (body));
      soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
    }

  soup_session_send_and_read_async (f->session, msg, G_PRIORITY_DEFAULT, NULL, send_cb, &wait);
  while (!wait.done)
    g_main_context_iteration (NULL, TRUE);
  g_assert_no_error (wait.error);

  r->status = soup_message_get_status (msg);
  r->body = wait.bytes;
  r->headers = soup_message_headers_ref (soup_message_get_response_headers (msg));
  if (json_parser_load_from_data (parser, g_bytes_get_data (r->body, NULL),
                                  g_bytes_get_size (r->body), NULL) &&
      json_parser_get_root (parser) != NULL)
    r->json = json_node_ref (json_parser_get_root (parser));
  return r;
}

static Response *
get (Fixture    *f,
     const char *url_or_path)
{
  return send_full (f, "GET", url_or_path, KEY, SEND_DEFAULT, NULL);
}

static JsonObject *
root_object (Response *r)
{
  g_assert_nonnull (r->json);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (r->json));
  return json_node_get_object (r->json);
}

static JsonArray *
list_of (Response   *r,
         const char *envelope)
{
  g_assert_cmpuint (r->status, ==, 200);
  return json_object_get_array_member (root_object (r), envelope);
}

static gint64
total_of (Response *r)
{
  return json_object_get_int_member (root_object (r), "total_entries");
}

static const char *
link_of (Response   *r,
         const char *name)
{
  JsonObject *links = json_object_get_object_member (root_object (r), "links");

  return json_object_get_string_member_with_default (links, name, NULL);
}

/* A string member of the @i-th element of @rows. */
static const char *
row_str (JsonArray  *rows,
         guint       i,
         const char *member)
{
  return json_object_get_string_member (json_array_get_object_element (rows, i), member);
}

/* links.self of the link object @member of @object. */
static const char *
link_self (JsonObject *object,
           const char *member)
{
  JsonObject *link = json_object_get_object_member (object, member);

  return json_object_get_string_member (json_object_get_object_member (link, "links"), "self");
}

static const char *
message_of (Response *r)
{
  return json_object_get_string_member (root_object (r), "message");
}

/* Fixture expectations ------------------------------------------------- */

static gboolean
raw_is_set (JsonObject *row,
            const char *name)
{
  JsonNode *node = json_object_get_member (row, name);

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return FALSE;
  return json_node_get_value_type (node) != G_TYPE_STRING || json_node_get_string (node)[0] != '\0';
}

/* "@<offset>" → unix seconds. */
static gint64
raw_time (Fixture    *f,
          JsonObject *row,
          const char *name)
{
  const char *text = json_object_get_string_member (row, name);

  g_assert_true (text[0] == '@');
  return f->anchor + g_ascii_strtoll (text + 1, NULL, 10);
}

static JsonArray *
raw_rows (Fixture    *f,
          const char *name)
{
  return json_object_get_array_member (f->data, name);
}

static guint
raw_count (Fixture    *f,
           const char *name,
           gboolean  (*pred) (Fixture *, JsonObject *, gpointer),
           gpointer    data)
{
  JsonArray *rows = raw_rows (f, name);
  guint n = 0;

  for (guint i = 0; i < json_array_get_length (rows); i++)
    if (pred (f, json_array_get_object_element (rows, i), data))
      n++;
  return n;
}

static gboolean
pred_visible (Fixture    *f,
              JsonObject *row,
              gpointer    data)
{
  return !raw_is_set (row, "cancelled_at") && !raw_is_set (row, "deleted_at") &&
         !raw_is_set (row, "archived_at");
}

static gboolean
pred_visible_in_window (Fixture    *f,
                        JsonObject *row,
                        gpointer    data)
{
  gint64 *window = data;
  gint64 t = raw_time (f, row, "starts_at");

  return pred_visible (f, row, NULL) && t >= window[0] && t < window[1];
}

static gboolean
pred_cancelled (Fixture    *f,
                JsonObject *row,
                gpointer    data)
{
  return raw_is_set (row, "cancelled_at") && !raw_is_set (row, "deleted_at");
}

static gboolean
pred_deleted (Fixture    *f,
              JsonObject *row,
              gpointer    data)
{
  return raw_is_set (row, "deleted_at");
}

static gboolean
pred_not_deleted (Fixture    *f,
                  JsonObject *row,
                  gpointer    data)
{
  return !raw_is_set (row, "deleted_at");
}

static gboolean
pred_archived (Fixture    *f,
               JsonObject *row,
               gpointer    data)
{
  return raw_is_set (row, "archived_at") && !raw_is_set (row, "deleted_at");
}

static char *
iso (gint64 t)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc (t);

  return g_date_time_format (dt, "%Y-%m-%dT%H:%M:%SZ");
}

static gint64
parse_iso (const char *text)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_iso8601 (text, NULL);

  g_assert_nonnull (dt);
  g_assert_true (g_str_has_suffix (text, "Z"));
  return g_date_time_to_unix (dt);
}

/* Fixture setup -------------------------------------------------------- */

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  f->fake = mhf_fake_cliniko_new (MHF_SAMPLE_CLINIC_JSON, &error);
  g_assert_no_error (error);
  g_assert_true (mhf_fake_cliniko_start (f->fake, &error));
  g_assert_no_error (error);
  f->anchor = mhf_fake_cliniko_get_anchor (f->fake);
  /* No proxy lookup: the default resolver wants GNOME's proxy schema,
   * which the test environment does not have, and 127.0.0.1 needs none. */
  f->session = soup_session_new_with_options ("timeout", 20, "proxy-resolver", NULL, NULL);
  f->parser = json_parser_new ();
  g_assert_true (json_parser_load_from_file (f->parser, MHF_SAMPLE_CLINIC_JSON, &error));
  g_assert_no_error (error);
  f->data = json_node_get_object (json_parser_get_root (f->parser));
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  /* Close the client's kept-alive connections first so the server sees
   * them go before it stops. */
  soup_session_abort (f->session);
  g_clear_object (&f->session);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  mhf_fake_cliniko_stop (f->fake);
  g_clear_object (&f->fake);
  g_clear_object (&f->parser);
}

/* Tests ---------------------------------------------------------------- */

static void
test_auth (Fixture       *f,
           gconstpointer  data)
{
  g_autoptr(Response) ok = get (f, "/user");
  g_autoptr(Response) no_suffix = send_full (f, "GET", "/user", KEY_NO_SUFFIX, 0, NULL);
  g_autoptr(Response) other = send_full (f, "GET", "/user", KEY_OTHER_SAME_OWNER, 0, NULL);
  g_autoptr(Response) wrong = send_full (f, "GET", "/user", KEY_WRONG, 0, NULL);
  g_autoptr(Response) shard = send_full (f, "GET", "/user", KEY_WRONG_SHARD, 0, NULL);
  g_autoptr(Response) missing = send_full (f, "GET", "/user", NULL, 0, NULL);
  g_autoptr(Response) password = send_full (f, "GET", "/user", KEY, SEND_PASSWORD, NULL);
  JsonObject *user;

  g_assert_cmpuint (ok->status, ==, 200);
  user = root_object (ok);
  g_assert_cmpstr (json_object_get_string_member (user, "id"), ==, "1");
  g_assert_cmpstr (json_object_get_string_member (user, "role"), ==, "administrator");
  g_assert_cmpstr (json_object_get_string_member (user, "time_zone"), ==, "Melbourne");
  g_assert_cmpuint (no_suffix->status, ==, 200);
  g_assert_cmpuint (other->status, ==, 200);
  g_assert_cmpuint (wrong->status, ==, 401);
  g_assert_cmpuint (shard->status, ==, 401);
  g_assert_cmpuint (missing->status, ==, 401);
  g_assert_cmpuint (password->status, ==, 401);
  g_assert_nonnull (soup_message_headers_get_one (wrong->headers, "WWW-Authenticate"));

  /* The same key is refused once the server is another shard. */
  mhf_fake_cliniko_set_shard (f->fake, "au1");
  {
    g_autoptr(Response) moved = get (f, "/user");
    g_autoptr(Response) bare = send_full (f, "GET", "/user", KEY_NO_SUFFIX, 0, NULL);

    g_assert_cmpuint (moved->status, ==, 401);
    g_assert_cmpuint (bare->status, ==, 200);
  }
}

static void
test_strict_headers (Fixture       *f,
                     gconstpointer  data)
{
  g_autoptr(Response) no_accept = send_full (f, "GET", "/user", KEY, SEND_NO_ACCEPT, NULL);
  g_autoptr(Response) bad_agent = send_full (f, "GET", "/user", KEY, SEND_BAD_AGENT, NULL);
  g_autoptr(Response) lenient = NULL;

  g_assert_cmpuint (no_accept->status, ==, 400);
  g_assert_nonnull (json_object_get_string_member (root_object (no_accept), "message"));
  g_assert_cmpuint (bad_agent->status, ==, 400);
  g_assert_nonnull (strstr (json_object_get_string_member (root_object (bad_agent), "message"),
                            "User-Agent"));

  mhf_fake_cliniko_set_strict (f->fake, FALSE);
  lenient = send_full (f, "GET", "/user", KEY, SEND_NO_ACCEPT | SEND_BAD_AGENT, NULL);
  g_assert_cmpuint (lenient->status, ==, 200);
}

static void
test_pagination (Fixture       *f,
                 gconstpointer  data)
{
  guint expected = raw_count (f, "individual_appointments", pred_visible, NULL);
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *url = g_strdup ("/individual_appointments?per_page=100");
  guint pages = 0;

  g_assert_cmpuint (expected, >, 400);
  while (url)
    {
      g_autoptr(Response) r = get (f, url);
      JsonArray *rows = list_of (r, "individual_appointments");
      const char *next = link_of (r, "next");

      pages++;
      g_assert_cmpint (total_of (r), ==, expected);
      g_assert_cmpuint (json_array_get_length (rows), <=, 100);
      g_assert_nonnull (link_of (r, "self"));
      g_assert_true (g_str_has_prefix (link_of (r, "self"),
                                       mhf_fake_cliniko_get_base_url (f->fake)));
      if (pages == 1)
        g_assert_null (link_of (r, "previous"));
      else
        g_assert_nonnull (link_of (r, "previous"));
      if (next)
        {
          g_assert_cmpuint (json_array_get_length (rows), ==, 100);
          g_assert_nonnull (strstr (next, "per_page=100"));
        }
      for (guint i = 0; i < json_array_get_length (rows); i++)
        {
          const char *id = row_str (rows, i, "id");
          g_assert_false (g_hash_table_contains (seen, id));
          g_hash_table_add (seen, g_strdup (id));
        }
      g_free (url);
      url = g_strdup (next);
    }
  g_assert_cmpuint (pages, >=, 5);
  g_assert_cmpuint (g_hash_table_size (seen), ==, expected);

  {
    g_autoptr(Response) def = get (f, "/individual_appointments");
    g_autoptr(Response) capped = get (f, "/individual_appointments?per_page=500");
    g_autoptr(Response) beyond = get (f, "/individual_appointments?page=999");
    g_autoptr(Response) zero = get (f, "/individual_appointments?per_page=0");
    g_autoptr(Response) bad_page = get (f, "/individual_appointments?page=abc");

    g_assert_cmpuint (json_array_get_length (list_of (def, "individual_appointments")), ==, 50);
    g_assert_nonnull (strstr (link_of (def, "self"), "page=1"));
    g_assert_null (strstr (link_of (def, "next"), "per_page"));
    g_assert_cmpuint (json_array_get_length (list_of (capped, "individual_appointments")), ==, 100);
    g_assert_nonnull (strstr (link_of (capped, "next"), "per_page=100"));
    g_assert_cmpuint (json_array_get_length (list_of (beyond, "individual_appointments")), ==, 0);
    g_assert_cmpint (total_of (beyond), ==, expected);
    g_assert_null (link_of (beyond, "next"));
    g_assert_cmpuint (zero->status, ==, 400);
    g_assert_cmpuint (bad_page->status, ==, 400);
  }
}

static guint
walk_count (Fixture    *f,
            const char *first,
            const char *envelope,
            gint64      lo,
            gint64      hi)
{
  g_autofree char *url = g_strdup (first);
  guint n = 0;

  while (url)
    {
      g_autoptr(Response) r = get (f, url);
      JsonArray *rows = list_of (r, envelope);

      for (guint i = 0; i < json_array_get_length (rows); i++)
        {
          JsonObject *row = json_array_get_object_element (rows, i);
          gint64 t = parse_iso (json_object_get_string_member (row, "starts_at"));

          g_assert_cmpint (t, >=, lo);
          g_assert_cmpint (t, <, hi);
          n++;
        }
      g_free (url);
      url = g_strdup (link_of (r, "next"));
    }
  return n;
}

static void
test_filters (Fixture       *f,
              gconstpointer  data)
{
  gint64 window[2] = { f->anchor + 86400, f->anchor + 2 * 86400 };
  guint expected = raw_count (f, "individual_appointments", pred_visible_in_window, window);
  g_autofree char *lo = iso (window[0]);
  g_autofree char *hi = iso (window[1]);
  g_autofree char *raw = g_strdup_printf ("/individual_appointments?q[]=starts_at:>=%s"
                                          "&q[]=starts_at:<%s&per_page=5&sort=starts_at",
                                          lo, hi);
  g_autofree char *encoded = g_strdup_printf ("/individual_appointments"
                                              "?q%%5B%%5D=starts_at%%3A%%3E%%3D%s"
                                              "&q%%5B%%5D=starts_at%%3A%%3C%s&per_page=7",
                                              lo, hi);
  const char *env = "individual_appointments";

  g_assert_cmpuint (expected, >, 5);
  /* Walking next proves the links keep q[], per_page and sort. */
  g_assert_cmpuint (walk_count (f, raw, env, window[0], window[1]), ==, expected);
  g_assert_cmpuint (walk_count (f, encoded, env, window[0], window[1]), ==, expected);

  {
    g_autoptr(Response) ids = get (f, "/patients?q[]=id:=82,83,84,999999");
    g_autoptr(Response) big = get (f, "/individual_appointments?q[]=id:=" BIG_ID);
    g_autoptr(Response) business = get (f, "/individual_appointments?per_page=100"
                                           "&q[]=business_id:=1152921504606846977");
    g_autoptr(Response) old_form = get (f, "/patients?q=id:=82");
    JsonArray *rows = list_of (business, "individual_appointments");

    g_assert_cmpint (total_of (ids), ==, 3);
    g_assert_cmpint (total_of (big), ==, 1);
    g_assert_cmpint (total_of (old_form), ==, 1);
    g_assert_cmpint (total_of (business), >, 0);
    for (guint i = 0; i < json_array_get_length (rows); i++)
      {
        JsonObject *row = json_array_get_object_element (rows, i);

        g_assert_true (g_str_has_suffix (link_self (row, "business"),
                                         "/v1/businesses/1152921504606846977"));
      }
  }

  {
    const char *bad[] = {
      "/individual_appointments?q[]=starts_at:>=2024-05-01T14:00:00%2B10:00",
      "/individual_appointments?q[]=starts_at:>=2024-05-01",
      "/individual_appointments?q[]=starts_at:=2024-05-01T14:00:00Z",
      "/individual_appointments?q[]=colour:=red",
      "/individual_appointments?q[]=patient_id:~5",
      "/individual_appointments?q[]=nonsense",
      "/individual_appointments?sort=starts_at:sideways",
    };

    for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
      {
        g_autoptr(Response) r = get (f, bad[i]);

        g_assert_cmpuint (r->status, ==, 400);
        g_assert_nonnull (json_object_get_string_member (root_object (r), "message"));
      }
  }

  {
    guint all = raw_count (f, "individual_appointments", pred_not_deleted, NULL);
    g_autoptr(Response) star = get (f, "/individual_appointments?q[]=archived_at:*");

    g_assert_cmpint (total_of (star), ==, all);
  }
}

static void
test_sort (Fixture       *f,
           gconstpointer  data)
{
  g_autoptr(Response) desc = get (f, "/individual_appointments"
                                     "?sort=starts_at:desc,id&per_page=100");
  g_autoptr(Response) def = get (f, "/individual_appointments?per_page=100");
  JsonArray *rows = list_of (desc, "individual_appointments");
  JsonArray *def_rows = list_of (def, "individual_appointments");

  for (guint i = 1; i < json_array_get_length (rows); i++)
    {
      gint64 a = parse_iso (row_str (rows, i - 1, "starts_at"));
      gint64 b = parse_iso (row_str (rows, i, "starts_at"));
      g_assert_cmpint (a, >=, b);
    }
  for (guint i = 1; i < json_array_get_length (def_rows); i++)
    {
      gint64 a = parse_iso (row_str (def_rows, i - 1, "created_at"));
      gint64 b = parse_iso (row_str (def_rows, i, "created_at"));
      g_assert_cmpint (a, <=, b);
    }
  g_assert_nonnull (strstr (link_of (desc, "next"), "sort=starts_at:desc,id"));
}

static void
assert_no_id_fields (JsonObject *row,
                     const char *base)
{
  g_autoptr(GList) names = json_object_get_members (row);

  g_assert_true (JSON_NODE_HOLDS_VALUE (json_object_get_member (row, "id")) ||
                 !json_object_has_member (row, "id"));
  for (GList *l = names; l; l = l->next)
    {
      const char *name = l->data;
      JsonNode *node = json_object_get_member (row, name);

      g_assert_false (g_str_has_suffix (name, "_id"));
      if (strcmp (name, "id") == 0)
        g_assert_cmpint (json_node_get_value_type (node), ==, G_TYPE_STRING);
      if (JSON_NODE_HOLDS_OBJECT (node) &&
          json_object_has_member (json_node_get_object (node), "links"))
        g_assert_true (g_str_has_prefix (link_self (row, name), base));
    }
}

static void
test_ids_and_links (Fixture       *f,
                    gconstpointer  data)
{
  const char *base = mhf_fake_cliniko_get_base_url (f->fake);
  const char *collections[] = {
    "businesses", "practitioners", "appointment_types", "patients", "individual_appointments",
    "group_appointments", "attendees", "communications",
  };
  g_autoptr(Response) one = get (f, "/individual_appointments/" BIG_ID);
  g_autoptr(Response) missing = get (f, "/individual_appointments/1");
  g_autoptr(Response) unknown = get (f, "/no_such_thing");
  JsonObject *appt = root_object (one);
  g_autofree char *text = NULL;

  g_assert_cmpuint (one->status, ==, 200);
  text = g_strndup (g_bytes_get_data (one->body, NULL), g_bytes_get_size (one->body));
  g_assert_nonnull (strstr (text, "\"id\":\"" BIG_ID "\""));
  g_assert_cmpstr (json_object_get_string_member (appt, "id"), ==, BIG_ID);
  g_assert_true (g_str_has_suffix (link_self (appt, "patient"), "/v1/patients/82"));
  g_assert_true (g_str_has_suffix (link_self (appt, "attendees"), "/attendees?page=1"));
  g_assert_true (json_object_get_null_member (appt, "repeated_from"));
  g_assert_cmpuint (json_object_get_size (json_object_get_object_member (appt, "repeat_rule")),
                    ==, 0);
  assert_no_id_fields (appt, base);
  g_assert_cmpuint (missing->status, ==, 404);
  g_assert_nonnull (json_object_get_string_member (root_object (missing), "message"));
  g_assert_cmpuint (unknown->status, ==, 404);

  for (guint c = 0; c < G_N_ELEMENTS (collections); c++)
    {
      g_autofree char *path = g_strdup_printf ("/%s?per_page=100", collections[c]);
      g_autoptr(Response) r = get (f, path);
      JsonArray *rows = list_of (r, collections[c]);

      g_assert_cmpuint (json_array_get_length (rows), >, 0);
      for (guint i = 0; i < json_array_get_length (rows); i++)
        assert_no_id_fields (json_array_get_object_element (rows, i), base);
    }
}

static void
test_nulls_and_utf8 (Fixture       *f,
                     gconstpointer  data)
{
  g_autoptr(Response) zoe = get (f, "/patients/82");
  g_autoptr(Response) patients = get (f, "/patients?per_page=100");
  g_autoptr(Response) businesses = get (f, "/businesses");
  g_autoptr(Response) appts = get (f, "/individual_appointments?per_page=100&q[]=starts_at:<"
                                      "2100-01-01T00:00:00Z&sort=starts_at");
  JsonArray *rows = list_of (patients, "patients");
  gboolean email_empty = FALSE, email_null = FALSE, archived_empty = FALSE, pfn_null = FALSE;
  gboolean tz_null = FALSE, biz_null = FALSE, dna_t = FALSE, dna_f = FALSE, dna_n = FALSE;
  JsonArray *brows, *arows;

  g_assert_cmpstr (json_object_get_string_member (root_object (zoe), "first_name"), ==, "Zoë");
  g_assert_cmpstr (json_object_get_string_member (root_object (zoe), "last_name"),
                   ==, "O’Brien-Ngữ");
  g_assert_nonnull (strstr (soup_message_headers_get_content_type (zoe->headers, NULL), "json"));

  for (guint i = 0; i < json_array_get_length (rows); i++)
    {
      JsonObject *p = json_array_get_object_element (rows, i);
      JsonNode *email = json_object_get_member (p, "email");

      email_null |= JSON_NODE_HOLDS_NULL (email);
      email_empty |= !JSON_NODE_HOLDS_NULL (email) && json_node_get_string (email)[0] == '\0';
      archived_empty |= !json_object_get_null_member (p, "archived_at") &&
                        json_object_get_string_member (p, "archived_at")[0] == '\0';
      pfn_null |= json_object_get_null_member (p, "preferred_first_name");
      tz_null |= json_object_get_null_member (p, "time_zone");
    }
  brows = list_of (businesses, "businesses");
  g_assert_cmpuint (json_array_get_length (brows), ==, 2);
  for (guint i = 0; i < json_array_get_length (brows); i++)
    biz_null |= json_object_get_null_member (json_array_get_object_element (brows, i),
                                             "display_name");
  arows = list_of (appts, "individual_appointments");
  for (guint i = 0; i < json_array_get_length (arows); i++)
    {
      JsonObject *appt = json_array_get_object_element (arows, i);
      JsonNode *dna = json_object_get_member (appt, "did_not_arrive");

      if (JSON_NODE_HOLDS_NULL (dna))
        dna_n = TRUE;
      else if (json_node_get_boolean (dna))
        dna_t = TRUE;
      else
        dna_f = TRUE;
    }
  g_assert_true (email_empty && email_null && archived_empty && pfn_null && tz_null);
  g_assert_true (biz_null && dna_t && dna_f && dna_n);
}

static void
test_tombstones (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(Response) cancelled = get (f, "/individual_appointments/cancelled?per_page=100");
  g_autoptr(Response) deleted = get (f, "/individual_appointments/deleted?per_page=100");
  g_autoptr(Response) p_deleted = get (f, "/patients/deleted");
  g_autoptr(Response) p_archived = get (f, "/patients/archived");
  g_autoptr(Response) g_deleted = get (f, "/group_appointments/deleted");
  g_autoptr(Response) a_cancelled = get (f, "/attendees/cancelled");
  g_autoptr(Response) a_deleted = get (f, "/attendees/deleted");
  JsonArray *rows;

  const char *ia = "individual_appointments";

  g_assert_cmpint (total_of (cancelled), ==, raw_count (f, ia, pred_cancelled, NULL));
  g_assert_cmpint (total_of (deleted), ==, raw_count (f, ia, pred_deleted, NULL));
  g_assert_cmpint (total_of (p_deleted), ==, raw_count (f, "patients", pred_deleted, NULL));
  g_assert_cmpint (total_of (p_archived), ==, raw_count (f, "patients", pred_archived, NULL));
  g_assert_cmpint (total_of (g_deleted), ==,
                   raw_count (f, "group_appointments", pred_deleted, NULL));
  g_assert_cmpint (total_of (a_cancelled), ==, raw_count (f, "attendees", pred_cancelled, NULL));
  g_assert_cmpint (total_of (a_deleted), ==, raw_count (f, "attendees", pred_deleted, NULL));
  g_assert_cmpint (total_of (g_deleted), >=, 1);
  g_assert_cmpint (total_of (a_cancelled), >=, 2);

  rows = list_of (cancelled, "individual_appointments");
  for (guint i = 0; i < json_array_get_length (rows); i++)
    {
      JsonObject *row = json_array_get_object_element (rows, i);

      parse_iso (json_object_get_string_member (row, "cancelled_at"));
      g_assert_cmpstr (json_object_get_string_member (row, "cancellation_reason_description"),
                       !=, "");
    }
  rows = list_of (p_deleted, "patients");
  g_assert_cmpuint (json_array_get_length (rows), >, 0);
  for (guint i = 0; i < json_array_get_length (rows); i++)
    {
      JsonObject *row = json_array_get_object_element (rows, i);

      g_assert_cmpuint (json_object_get_size (row), ==, 2);
      parse_iso (json_object_get_string_member (row, "deleted_at"));
      g_assert_true (json_object_has_member (json_object_get_object_member (row, "links"), "self"));
    }

  /* Mutations: cancel and reschedule bump updated_at; lists follow. */
  {
    guint visible = raw_count (f, "individual_appointments", pred_visible, NULL);
    gint64 now = f->anchor + 12 * 3600;
    g_autoptr(Response) after = NULL;
    g_autoptr(Response) in_cancelled = NULL;
    g_autoptr(Response) moved = NULL;
    g_autofree char *json = NULL;

    mhf_fake_cliniko_set_clock (f->fake, now);
    g_assert_true (mhf_fake_cliniko_cancel_appointment (f->fake, BIG_ID, 30, "Flu 🤒"));
    after = get (f, "/individual_appointments");
    g_assert_cmpint (total_of (after), ==, visible - 1);
    in_cancelled = get (f, "/individual_appointments/cancelled?q[]=id:=" BIG_ID);
    g_assert_cmpint (total_of (in_cancelled), ==, 1);
    json = mhf_fake_cliniko_dup_record_json (f->fake, "individual_appointments", BIG_ID);
    g_assert_nonnull (strstr (json, "\"cancellation_reason_description\":\"Sick\""));

    g_assert_true (mhf_fake_cliniko_reschedule_appointment (f->fake, BIG_ID,
                                                            f->anchor + 40 * 86400));
    moved = get (f, "/individual_appointments/" BIG_ID);
    g_assert_cmpint (parse_iso (json_object_get_string_member (root_object (moved), "starts_at")),
                     ==, f->anchor + 40 * 86400);
    g_assert_cmpint (parse_iso (json_object_get_string_member (root_object (moved), "updated_at")),
                     ==, now);
    g_assert_false (mhf_fake_cliniko_cancel_appointment (f->fake, "1", 30, NULL));
    g_assert_true (mhf_fake_cliniko_archive_patient (f->fake, "82"));
    g_assert_true (mhf_fake_cliniko_set_patient_email (f->fake, "83", NULL));
    g_assert_true (mhf_fake_cliniko_set_did_not_arrive (f->fake, BIG_ID, 1));
  }

  /* The class tomorrow: attendees include the cancelled place. */
  {
    g_autoptr(Response) groups = get (f, "/group_appointments?per_page=100&sort=starts_at");
    JsonArray *grows = list_of (groups, "group_appointments");
    gboolean found = FALSE;

    for (guint i = 0; i < json_array_get_length (grows); i++)
      {
        JsonObject *g = json_array_get_object_element (grows, i);
        gint64 t = parse_iso (json_object_get_string_member (g, "starts_at"));
        const char *url;
        g_autoptr(Response) att = NULL;

        if (t < f->anchor + 86400 || t >= f->anchor + 2 * 86400)
          continue;
        found = TRUE;
        url = link_self (g, "attendees");
        att = get (f, url);
        g_assert_cmpint (total_of (att), >=, 4);
      }
    g_assert_true (found);
  }
}

static void
test_rate_limit (Fixture       *f,
                 gconstpointer  data)
{
  gint64 t0 = 1717236000;
  g_autoptr(Response) limited = NULL;
  g_autoptr(Response) other_key = NULL;
  g_autoptr(Response) recovered = NULL;

  mhf_fake_cliniko_set_rate_limit (f->fake, 5);
  mhf_fake_cliniko_set_clock (f->fake, t0);
  for (guint i = 0; i < 5; i++)
    {
      g_autoptr(Response) r = get (f, "/businesses");
      g_assert_cmpuint (r->status, ==, 200);
    }
  limited = get (f, "/businesses");
  g_assert_cmpuint (limited->status, ==, 429);
  g_assert_cmpstr (soup_message_headers_get_one (limited->headers, "X-RateLimit-Reset"),
                   ==, "1717236060");
  /* Keys of one user share the budget. */
  other_key = send_full (f, "GET", "/businesses", KEY_OTHER_SAME_OWNER, 0, NULL);
  g_assert_cmpuint (other_key->status, ==, 429);

  mhf_fake_cliniko_advance_clock (f->fake, 59);
  {
    g_autoptr(Response) still = get (f, "/businesses");
    g_assert_cmpuint (still->status, ==, 429);
  }
  mhf_fake_cliniko_advance_clock (f->fake, 1);
  recovered = get (f, "/businesses");
  g_assert_cmpuint (recovered->status, ==, 200);
}

static gboolean
body_parses (Response *r)
{
  return r->json != NULL;
}

static void
test_faults (Fixture       *f,
             gconstpointer  data)
{
  MhfFakeFault error500 = { 500, 0, MHF_FAKE_BODY_NORMAL, 1 };
  MhfFakeFault truncated = { 0, 0, MHF_FAKE_BODY_TRUNCATED, 1 };
  MhfFakeFault malformed = { 0, 0, MHF_FAKE_BODY_MALFORMED, 1 };
  MhfFakeFault not_object = { 0, 0, MHF_FAKE_BODY_NOT_OBJECT, 1 };
  MhfFakeFault slow = { 0, 400, MHF_FAKE_BODY_NORMAL, 1 };
  MhfFakeFault forever = { 503, 0, MHF_FAKE_BODY_NORMAL, -1 };
  gint64 start;

  mhf_fake_cliniko_add_fault (f->fake, "/patients", &error500);
  {
    g_autoptr(Response) a = get (f, "/patients");
    g_autoptr(Response) b = get (f, "/patients");
    g_autoptr(Response) other = get (f, "/businesses");

    g_assert_cmpuint (a->status, ==, 500);
    g_assert_cmpuint (b->status, ==, 200);
    g_assert_cmpuint (other->status, ==, 200);
  }

  mhf_fake_cliniko_add_fault (f->fake, "/v1/businesses", &truncated);
  {
    g_autoptr(Response) r = get (f, "/businesses");
    g_assert_cmpuint (r->status, ==, 200);
    g_assert_false (body_parses (r));
  }
  mhf_fake_cliniko_add_fault (f->fake, "/businesses", &malformed);
  {
    g_autoptr(Response) r = get (f, "/businesses");
    g_assert_false (body_parses (r));
  }
  mhf_fake_cliniko_add_fault (f->fake, "/businesses", &not_object);
  {
    g_autoptr(Response) r = get (f, "/businesses");
    g_assert_true (body_parses (r));
    g_assert_true (JSON_NODE_HOLDS_ARRAY (r->json));
  }
  mhf_fake_cliniko_add_fault (f->fake, "/user", &slow);
  start = g_get_monotonic_time ();
  {
    g_autoptr(Response) r = get (f, "/user");
    g_assert_cmpuint (r->status, ==, 200);
    g_assert_cmpint (g_get_monotonic_time () - start, >=, 380 * 1000);
  }
  mhf_fake_cliniko_add_fault (f->fake, "/", &forever);
  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(Response) r = get (f, "/appointment_types");
      g_assert_cmpuint (r->status, ==, 503);
    }
  mhf_fake_cliniko_clear_faults (f->fake);
  {
    g_autoptr(Response) r = get (f, "/appointment_types");
    g_assert_cmpuint (r->status, ==, 200);
    g_assert_cmpuint (json_array_get_length (list_of (r, "appointment_types")), ==, 5);
  }
}

static void
test_memo (Fixture       *f,
           gconstpointer  data)
{
  const char *good = "{\"category_code\":12,\"confidential\":false,\"direction_code\":1,"
                     "\"type_code\":2,\"patient_id\":\"82\",\"from\":\"Harbourside Physio\","
                     "\"to\":\"zoe@example.com\",\"content\":\"Reminder for Zoë sent ✉️\"}";
  const char *bad = "{\"category_code\":5,\"direction_code\":1,\"type_code\":2,"
                    "\"patient_id\":82,\"from\":\"x\",\"to\":\"y\"}";
  guint before = mhf_fake_cliniko_count_records (f->fake, "communications");
  g_autoptr(Response) created = send_full (f, "POST", "/communications", KEY, 0, good);
  g_autoptr(Response) invalid = send_full (f, "POST", "/communications", KEY, 0, bad);
  g_autoptr(Response) array = send_full (f, "POST", "/communications", KEY, 0, "[1]");
  g_autoptr(Response) nopatient = NULL;
  g_autoptr(Response) listed = NULL;
  JsonObject *memo, *errors;
  const char *id;
  g_autofree char *filter = NULL;

  g_assert_cmpuint (created->status, ==, 201);
  memo = root_object (created);
  id = json_object_get_string_member (memo, "id");
  g_assert_nonnull (id);
  g_assert_cmpint (json_object_get_int_member (memo, "category_code"), ==, 12);
  g_assert_cmpstr (json_object_get_string_member (memo, "content"),
                   ==, "Reminder for Zoë sent ✉️");
  g_assert_false (json_object_has_member (memo, "patient_id"));
  g_assert_true (json_object_has_member (memo, "patient"));
  g_assert_cmpuint (mhf_fake_cliniko_count_records (f->fake, "communications"), ==, before + 1);

  g_assert_cmpuint (invalid->status, ==, 422);
  g_assert_cmpstr (message_of (invalid), ==, "Validation Failed");
  errors = json_object_get_object_member (root_object (invalid), "errors");
  g_assert_cmpstr (json_object_get_string_member (errors, "confidential"), ==, "can’t be blank");
  g_assert_cmpstr (json_object_get_string_member (errors, "content"), ==, "can’t be blank");
  g_assert_true (json_object_has_member (errors, "category_code"));
  g_assert_cmpuint (array->status, ==, 422);
  g_assert_cmpstr (message_of (array), ==, "must be an object");

  nopatient = send_full (f, "POST", "/communications", KEY, 0,
                         "{\"confidential\":true,\"direction_code\":2,\"type_code\":3,"
                         "\"patient_id\":\"5\",\"from\":\"a\",\"to\":\"b\",\"content\":\"c\"}");
  g_assert_cmpuint (nopatient->status, ==, 422);

  filter = g_strdup_printf ("/communications?q[]=id:=%s&q[]=category_code:=12", id);
  listed = get (f, filter);
  g_assert_cmpint (total_of (listed), ==, 1);
}

static void
test_request_log (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(Response) r = get (f, "/individual_appointments?q[]=starts_at:>=2024-05-01T14:00:00Z"
                                  "&q%5B%5D=patient_id:=82,83&sort=starts_at");
  g_autoptr(Response) unauth = send_full (f, "GET", "/user", NULL, 0, NULL);
  g_autoptr(GPtrArray) log = mhf_fake_cliniko_get_requests (f->fake);
  MhfFakeRequest *first, *second;

  g_assert_cmpuint (r->status, ==, 200);
  g_assert_cmpuint (log->len, ==, 2);
  first = g_ptr_array_index (log, 0);
  second = g_ptr_array_index (log, 1);
  g_assert_cmpstr (first->method, ==, "GET");
  g_assert_cmpstr (first->path, ==, "/v1/individual_appointments");
  g_assert_cmpuint (g_strv_length (first->q), ==, 2);
  g_assert_cmpstr (first->q[0], ==, "starts_at:>=2024-05-01T14:00:00Z");
  g_assert_cmpstr (first->q[1], ==, "patient_id:=82,83");
  g_assert_nonnull (strstr (first->query, "sort=starts_at"));
  /* Both spellings reached the server as sent. */
  g_assert_nonnull (strstr (first->query, "q[]=starts_at"));
  g_assert_nonnull (strstr (first->query, "q%5B%5D=patient_id"));
  g_assert_cmpstr (first->accept, ==, "application/json");
  g_assert_cmpstr (first->user_agent, ==, USER_AGENT);
  g_assert_true (first->has_authorization);
  g_assert_cmpstr (first->owner, ==, "1");
  g_assert_cmpuint (first->status, ==, 200);
  g_assert_false (second->has_authorization);
  g_assert_cmpuint (second->status, ==, 401);
  g_assert_cmpuint (mhf_fake_cliniko_count_requests (f->fake, "GET", "/v1/individual_appointments"),
                    ==, 1);
  mhf_fake_cliniko_clear_requests (f->fake);
  g_assert_cmpuint (mhf_fake_cliniko_count_requests (f->fake, NULL, NULL), ==, 0);
}

static void
test_settings (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(Response) full = get (f, "/settings");
  g_autoptr(Response) pub = get (f, "/settings/public");
  g_autoptr(Response) forbidden = NULL;
  g_autoptr(Response) pub_again = NULL;
  JsonObject *account;

  g_assert_cmpuint (full->status, ==, 200);
  account = json_object_get_object_member (root_object (full), "account");
  g_assert_cmpstr (json_object_get_string_member (account, "time_zone"), ==, "Melbourne");
  g_assert_true (json_object_has_member (account, "email_from"));
  account = json_object_get_object_member (root_object (pub), "account");
  g_assert_false (json_object_has_member (account, "email_from"));
  g_assert_false (json_object_has_member (account, "admin"));

  mhf_fake_cliniko_set_role (f->fake, "receptionist");
  forbidden = get (f, "/settings");
  g_assert_cmpuint (forbidden->status, ==, 403);
  pub_again = get (f, "/settings/public");
  g_assert_cmpuint (pub_again->status, ==, 200);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

#define ADD(path, func) \
  g_test_add ("/mhf/fake-cliniko/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("auth", test_auth);
  ADD ("strict-headers", test_strict_headers);
  ADD ("pagination", test_pagination);
  ADD ("filters", test_filters);
  ADD ("sort", test_sort);
  ADD ("ids-and-links", test_ids_and_links);
  ADD ("nulls-and-utf8", test_nulls_and_utf8);
  ADD ("tombstones-and-mutations", test_tombstones);
  ADD ("rate-limit", test_rate_limit);
  ADD ("faults", test_faults);
  ADD ("memo", test_memo);
  ADD ("request-log", test_request_log);
  ADD ("settings", test_settings);

#undef ADD

  return g_test_run ();
}
