/* mhf-cliniko-client.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The Cliniko REST client (cliniko-api.md §1-4, §6): Basic auth with the
 * key, our User-Agent, retries with backoff for server and network faults,
 * waits for the rate limit's reset on 429, and stops dead after a 401 so
 * that a revoked key or a shard move does not turn into a retry storm.
 *
 * Privacy: the key and the Authorization header are never logged, and
 * neither are bodies or query strings (filters may hold names). Logs carry
 * the method, the path, the status, the duration and the key's
 * fingerprint. There is no SoupLogger.
 *
 * JSON leaves this file only as the JsonNode results of get/post and the
 * JsonObject rows of list; the typed readers built on top of them are the
 * boundary the rest of the agent sees.
 */

#include "config.h"

#include "mhf-cliniko-client.h"

#include "mhf-cliniko-util.h"

#include <libsoup/soup.h>
#include <string.h>

#define DEFAULT_TIMEOUT_SECONDS 30
#define DEFAULT_MAX_ATTEMPTS 5
#define DEFAULT_BASE_DELAY_MS 1000
#define MAX_BACKOFF_MS 60000
/* 429s that are waited out before giving up with RATE_LIMITED. */
#define MAX_RATE_LIMIT_WAITS 10
#define RATE_LIMIT_MIN_WAIT_MS 100
#define RATE_LIMIT_MAX_WAIT_MS 65000
#define RATE_LIMIT_FALLBACK_WAIT_MS 5000
#define RATE_LIMIT_JITTER_MS 250
#define LIST_PER_PAGE "100"
#define LIST_MAX_PAGES 10000
#define MAX_MESSAGE_CHARS 200
/* libsoup 3.2 has no name for it. */
#define STATUS_TOO_MANY_REQUESTS 429

struct _MhfClinikoClient
{
  GObject              parent_instance;

  /* Owned */
  SoupSession         *session;
  MhfClinikoLimiter   *limiter;      /* nullable */
  char                *base_url;     /* no trailing slash */
  GUri                *base_uri;
  char                *authorization;
  char                *fingerprint;

  /* Settings */
  guint                max_attempts;
  guint                base_delay_ms;
  MhfClinikoClockFunc  clock_func;
  gpointer             clock_data;

  /* State */
  guint                key_rejected : 1;
};

G_DEFINE_FINAL_TYPE (MhfClinikoClient, mhf_cliniko_client, G_TYPE_OBJECT)

G_DEFINE_QUARK (mhf-cliniko-error-quark, mhf_cliniko_error)

enum {
  PROP_0,
  PROP_KEY_REJECTED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* One HTTP exchange, with its retries and waits. */
typedef struct
{
  char        *method;
  char        *url;
  char        *path;            /* for logs and messages: no host, no query */
  GBytes      *body;            /* nullable */
  gboolean     idempotent;
  guint        n_failures;
  guint        n_rate_limited;
  SoupMessage *msg;
  gint64       started;
  GSource     *wait_source;
  GSource     *cancel_source;
} Request;

/* A walk over the pages of one list. */
typedef struct
{
  char       *path;
  char       *collection_key;
  GStrv       params;
  GPtrArray  *rows;             /* JsonObject* */
  GHashTable *seen_ids;
  GHashTable *seen_urls;
} ListData;

static void request_start (GTask *task);

static void
request_clear_wait (Request *req)
{
  if (req->wait_source != NULL)
    {
      g_source_destroy (req->wait_source);
      g_clear_pointer (&req->wait_source, g_source_unref);
    }
  if (req->cancel_source != NULL)
    {
      g_source_destroy (req->cancel_source);
      g_clear_pointer (&req->cancel_source, g_source_unref);
    }
}

static void
request_free (Request *req)
{
  request_clear_wait (req);
  g_clear_pointer (&req->method, g_free);
  g_clear_pointer (&req->url, g_free);
  g_clear_pointer (&req->path, g_free);
  g_clear_pointer (&req->body, g_bytes_unref);
  g_clear_object (&req->msg);
  g_free (req);
}

static void
list_data_free (ListData *data)
{
  g_clear_pointer (&data->path, g_free);
  g_clear_pointer (&data->collection_key, g_free);
  g_clear_pointer (&data->params, g_strfreev);
  g_clear_pointer (&data->rows, g_ptr_array_unref);
  g_clear_pointer (&data->seen_ids, g_hash_table_unref);
  g_clear_pointer (&data->seen_urls, g_hash_table_unref);
  g_free (data);
}

/* ---- helpers --------------------------------------------------------- */

static char *
path_of_url (const char *url)
{
  g_autoptr(GUri) uri = g_uri_parse (url, G_URI_FLAGS_ENCODED, NULL);

  if (uri == NULL)
    return g_strdup ("(invalid URL)");
  return g_strdup (g_uri_get_path (uri));
}

static int
effective_port (GUri *uri)
{
  int port = g_uri_get_port (uri);

  if (port > 0)
    return port;
  if (g_ascii_strcasecmp (g_uri_get_scheme (uri), "https") == 0)
    return 443;
  return 80;
}

/* The key must never travel anywhere but the base URL's origin, whatever a
 * "next" link says. */
static gboolean
same_origin (MhfClinikoClient *self,
             GUri             *uri)
{
  const char *host = g_uri_get_host (uri);

  return host != NULL &&
         g_ascii_strcasecmp (g_uri_get_scheme (uri), g_uri_get_scheme (self->base_uri)) == 0 &&
         g_ascii_strcasecmp (host, g_uri_get_host (self->base_uri)) == 0 &&
         effective_port (uri) == effective_port (self->base_uri);
}

static char *
param_name (const char *param)
{
  const char *eq = strchr (param, '=');

  return eq ? g_strndup (param, eq - param) : g_strdup (param);
}

/* Appends "name=value" as a percent-encoded query parameter. */
static void
append_param (GString    *url,
              const char *param)
{
  const char *eq = strchr (param, '=');
  g_autofree char *name = param_name (param);
  g_autofree char *name_escaped = g_uri_escape_string (name, NULL, FALSE);
  g_autofree char *value_escaped = g_uri_escape_string (eq ? eq + 1 : "", NULL, FALSE);

  g_string_append_c (url, strchr (url->str, '?') ? '&' : '?');
  g_string_append_printf (url, "%s=%s", name_escaped, value_escaped);
}

static gboolean
params_have (const char * const *params,
             const char         *name)
{
  for (guint i = 0; params != NULL && params[i] != NULL; i++)
    {
      g_autofree char *n = param_name (params[i]);

      if (strcmp (n, name) == 0)
        return TRUE;
    }
  return FALSE;
}

static char *
build_url (MhfClinikoClient   *self,
           const char         *path,
           const char * const *params)
{
  GString *url = g_string_new (self->base_url);

  g_string_append (url, path);
  for (guint i = 0; params != NULL && params[i] != NULL; i++)
    append_param (url, params[i]);
  return g_string_free (url, FALSE);
}

static gint64
client_now (MhfClinikoClient *self)
{
  if (self->clock_func != NULL)
    return self->clock_func (self->clock_data);
  return g_get_real_time ();
}

static guint
backoff_ms (MhfClinikoClient *self,
            guint             n_failures)
{
  guint64 delay = self->base_delay_ms;

  for (guint i = 1; i < n_failures && delay < MAX_BACKOFF_MS; i++)
    delay *= 2;
  delay = MIN (delay, MAX_BACKOFF_MS);
  /* Half fixed, half random, so that clients that failed together do not
   * come back together. */
  return (guint) (delay / 2 + g_random_int_range (0, (gint32) (delay / 2) + 1));
}

static guint
rate_limit_wait_ms (MhfClinikoClient *self,
                    SoupMessage      *msg)
{
  const char *reset = soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                                    "X-RateLimit-Reset");
  gint64 reset_s, wait_ms;
  char *end = NULL;

  if (reset == NULL)
    return RATE_LIMIT_FALLBACK_WAIT_MS;

  reset_s = g_ascii_strtoll (reset, &end, 10);
  if (end == reset || *end != '\0' || reset_s <= 0)
    return RATE_LIMIT_FALLBACK_WAIT_MS;

  wait_ms = (reset_s * G_USEC_PER_SEC - client_now (self)) / 1000;
  wait_ms = CLAMP (wait_ms, RATE_LIMIT_MIN_WAIT_MS, RATE_LIMIT_MAX_WAIT_MS);
  return (guint) wait_ms + (guint) g_random_int_range (0, RATE_LIMIT_JITTER_MS + 1);
}

static char *
safe_text (const char *text)
{
  g_autofree char *valid = g_utf8_make_valid (text, -1);

  if (g_utf8_strlen (valid, -1) <= MAX_MESSAGE_CHARS)
    return g_steal_pointer (&valid);
  return g_utf8_substring (valid, 0, MAX_MESSAGE_CHARS);
}

/* Parses a body whose root must be an object. */
static JsonNode *
parse_object (GBytes      *bytes,
              const char  *path,
              GError     **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) local_error = NULL;
  const char *data;
  gsize size;
  JsonNode *root;

  data = g_bytes_get_data (bytes, &size);
  if (size == 0 || !json_parser_load_from_data (parser, data, size, &local_error))
    {
      g_debug ("Cliniko: %s: body is not JSON (%s)", path,
               local_error ? g_quark_to_string (local_error->domain) : "empty");
      g_set_error (error, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_MALFORMED,
                   "Cliniko's answer for %s is not valid JSON", path);
      return NULL;
    }

  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_MALFORMED,
                   "Cliniko's answer for %s is not a JSON object", path);
      return NULL;
    }

  return json_node_ref (root);
}

/* A 422's "message" plus the names (not the texts) of invalid fields. */
static char *
describe_invalid (GBytes *bytes)
{
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GString) text = g_string_new (NULL);
  g_autofree char *message = NULL;
  JsonObject *object;
  JsonNode *errors;

  if (bytes != NULL)
    root = parse_object (bytes, "", NULL);
  if (root == NULL)
    return g_strdup ("no details");

  object = json_node_get_object (root);
  message = safe_text (json_object_get_string_member_with_default (object, "message", "no details"));
  g_string_append (text, message);

  errors = json_object_get_member (object, "errors");
  if (errors != NULL && JSON_NODE_HOLDS_OBJECT (errors))
    {
      g_autoptr(GList) names = json_object_get_members (json_node_get_object (errors));
      g_autofree char *fields = NULL;
      g_autoptr(GString) list = g_string_new (NULL);

      for (GList *l = names; l != NULL; l = l->next)
        {
          g_autofree char *name = safe_text (l->data);

          if (list->len > 0)
            g_string_append (list, ", ");
          g_string_append (list, name);
        }
      if (list->len > 0)
        g_string_append_printf (text, " (%s)", list->str);
    }

  return g_string_free (g_steal_pointer (&text), FALSE);
}

/* ---- one request ------------------------------------------------------ */

static void
set_key_rejected (MhfClinikoClient *self)
{
  if (self->key_rejected)
    return;
  self->key_rejected = TRUE;
  g_message ("Cliniko rejected API key %s; no further requests with it", self->fingerprint);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_KEY_REJECTED]);
}

static gboolean
wait_over (GTask *task)
{
  Request *req = g_task_get_task_data (task);
  g_autoptr(GTask) hold = g_object_ref (task);

  request_clear_wait (req);
  if (g_task_return_error_if_cancelled (hold))
    return G_SOURCE_REMOVE;
  request_start (g_steal_pointer (&hold));
  return G_SOURCE_REMOVE;
}

static gboolean
wait_timeout_cb (gpointer user_data)
{
  return wait_over (user_data);
}

static gboolean
wait_cancelled_cb (GCancellable *cancellable,
                   gpointer      user_data)
{
  return wait_over (user_data);
}

/* Waits on the main loop, never with a sleep; cancellation ends the wait
 * at once. Takes the task. */
static void
request_wait (GTask *task,
              guint  delay_ms)
{
  Request *req = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);
  GMainContext *context = g_task_get_context (task);

  g_assert (req->wait_source == NULL);

  /* The timeout source owns the task until one of the two fires. */
  req->wait_source = g_timeout_source_new (delay_ms);
  g_source_set_static_name (req->wait_source, "[mhf] cliniko wait");
  g_source_set_callback (req->wait_source, wait_timeout_cb, task, g_object_unref);
  g_source_attach (req->wait_source, context);

  if (cancellable != NULL)
    {
      req->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_static_name (req->cancel_source, "[mhf] cliniko wait cancel");
      g_source_set_callback (req->cancel_source, G_SOURCE_FUNC (wait_cancelled_cb), task, NULL);
      g_source_attach (req->cancel_source, context);
    }
}

/* A failure that may go away: retry after a backoff, or give up with
 * @code once the attempts are spent or if @may_retry is FALSE. Takes the
 * task. */
static void
request_retry (GTask      *task,
               gboolean    may_retry,
               int         code,
               const char *message)
{
  MhfClinikoClient *self = g_task_get_source_object (task);
  Request *req = g_task_get_task_data (task);
  guint delay;

  req->n_failures++;
  if (!may_retry || req->n_failures >= self->max_attempts)
    {
      g_task_return_new_error (task, MHF_CLINIKO_ERROR, code, "%s (%u attempt%s)",
                               message, req->n_failures, req->n_failures == 1 ? "" : "s");
      g_object_unref (task);
      return;
    }

  delay = backoff_ms (self, req->n_failures);
  g_debug ("Cliniko: %s %s: attempt %u failed, retrying in %u ms",
           req->method, req->path, req->n_failures, delay);
  request_wait (task, delay);
}

static gboolean
is_connect_error (const GError *error)
{
  /* Errors raised before anything was sent: safe to retry even a POST. */
  return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED) ||
         g_error_matches (error, G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE) ||
         g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NETWORK_UNREACHABLE) ||
         error->domain == G_RESOLVER_ERROR;
}

static void
request_sent_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  MhfClinikoClient *self = g_task_get_source_object (task);
  Request *req = g_task_get_task_data (task);
  g_autoptr(SoupMessage) msg = g_steal_pointer (&req->msg);
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;
  guint status;

  bytes = soup_session_send_and_read_finish (SOUP_SESSION (object), result, &error);
  status = soup_message_get_status (msg);
  g_debug ("Cliniko: %s %s -> %u (%" G_GINT64_FORMAT " ms, key %s)",
           req->method, req->path, error ? 0 : status,
           (g_get_monotonic_time () - req->started) / 1000, self->fingerprint);

  if (error != NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_task_return_error (task, g_steal_pointer (&error));
          return;
        }

      /* Lower-level messages may name hosts and addresses: debug only. */
      g_debug ("Cliniko: %s %s failed: %s (%s, %d)", req->method, req->path,
               error->message, g_quark_to_string (error->domain), error->code);

      if (error->domain == G_TLS_ERROR)
        {
          g_task_return_new_error (task, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_NETWORK,
                                   "No trusted TLS connection to Cliniko for %s", req->path);
          return;
        }

      request_retry (g_steal_pointer (&task),
                     req->idempotent || is_connect_error (error),
                     MHF_CLINIKO_ERROR_NETWORK,
                     g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)
                       ? "Cliniko did not answer in time"
                       : "Could not reach Cliniko");
      return;
    }

  if (SOUP_STATUS_IS_SUCCESSFUL (status))
    {
      if (status == SOUP_STATUS_NO_CONTENT)
        {
          node = json_node_new (JSON_NODE_OBJECT);
          json_node_take_object (node, json_object_new ());
        }
      else
        node = parse_object (bytes, req->path, &error);

      if (node == NULL)
        g_task_return_error (task, g_steal_pointer (&error));
      else
        g_task_return_pointer (task, g_steal_pointer (&node), (GDestroyNotify) json_node_unref);
      return;
    }

  switch (status)
    {
    case SOUP_STATUS_UNAUTHORIZED:
      set_key_rejected (self);
      g_task_return_new_error (task, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_UNAUTHORIZED,
                               "Cliniko rejected the API key (wrong key, revoked key or wrong shard)");
      return;

    case SOUP_STATUS_FORBIDDEN:
      g_task_return_new_error (task, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_FORBIDDEN,
                               "The Cliniko user behind the key may not access %s", req->path);
      return;

    case SOUP_STATUS_NOT_FOUND:
      g_task_return_new_error (task, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_NOT_FOUND,
                               "Cliniko has no %s", req->path);
      return;

    case SOUP_STATUS_UNPROCESSABLE_ENTITY:
      {
        g_autofree char *details = describe_invalid (bytes);

        g_task_return_new_error (task, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_INVALID,
                                 "Cliniko refused %s %s: %s", req->method, req->path, details);
        return;
      }

    case STATUS_TOO_MANY_REQUESTS:
      {
        guint delay;

        req->n_rate_limited++;
        if (req->n_rate_limited > MAX_RATE_LIMIT_WAITS)
          {
            g_task_return_new_error (task, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_RATE_LIMITED,
                                     "Cliniko kept refusing %s over the rate limit", req->path);
            return;
          }
        delay = rate_limit_wait_ms (self, msg);
        g_debug ("Cliniko: rate limited on %s, waiting %u ms", req->path, delay);
        request_wait (g_steal_pointer (&task), delay);
        return;
      }

    default:
      break;
    }

  if (SOUP_STATUS_IS_SERVER_ERROR (status))
    {
      g_autofree char *message = g_strdup_printf ("Cliniko failed on %s with HTTP %u",
                                                  req->path, status);

      request_retry (g_steal_pointer (&task), req->idempotent, MHF_CLINIKO_ERROR_SERVER, message);
      return;
    }

  if (SOUP_STATUS_IS_CLIENT_ERROR (status))
    g_task_return_new_error (task, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_INVALID,
                             "Cliniko refused %s %s with HTTP %u", req->method, req->path, status);
  else
    g_task_return_new_error (task, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_MALFORMED,
                             "Cliniko answered %s with unexpected HTTP %u", req->path, status);
}

static void
request_send (GTask *task)
{
  MhfClinikoClient *self = g_task_get_source_object (task);
  Request *req = g_task_get_task_data (task);
  SoupMessageHeaders *headers;

  if (self->key_rejected)
    {
      g_task_return_new_error (task, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_UNAUTHORIZED,
                               "Cliniko rejected this API key earlier; it needs re-entering");
      g_object_unref (task);
      return;
    }

  req->msg = soup_message_new (req->method, req->url);
  if (req->msg == NULL)
    {
      g_task_return_new_error (task, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_MALFORMED,
                               "Not a valid Cliniko URL for %s", req->path);
      g_object_unref (task);
      return;
    }

  /* Redirects could carry the key elsewhere; Cliniko does not use them. */
  soup_message_add_flags (req->msg, SOUP_MESSAGE_NO_REDIRECT);
  headers = soup_message_get_request_headers (req->msg);
  soup_message_headers_replace (headers, "Authorization", self->authorization);
  soup_message_headers_replace (headers, "Accept", "application/json");
  if (req->body != NULL)
    soup_message_set_request_body_from_bytes (req->msg, "application/json", req->body);

  req->started = g_get_monotonic_time ();
  soup_session_send_and_read_async (self->session, req->msg, G_PRIORITY_DEFAULT,
                                    g_task_get_cancellable (task),
                                    request_sent_cb, task);
}

static void
request_acquired_cb (GObject      *object,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (!mhf_cliniko_limiter_acquire_finish (MHF_CLINIKO_LIMITER (object), result, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  request_send (g_steal_pointer (&task));
}

/* Takes the task. */
static void
request_start (GTask *task)
{
  MhfClinikoClient *self = g_task_get_source_object (task);

  if (self->key_rejected || self->limiter == NULL)
    {
      request_send (task);
      return;
    }
  mhf_cliniko_limiter_acquire_async (self->limiter, g_task_get_cancellable (task),
                                     request_acquired_cb, task);
}

static void
request_async (MhfClinikoClient    *self,
               const char          *method,
               const char          *url,
               GBytes              *body,
               GCancellable        *cancellable,
               GAsyncReadyCallback  callback,
               gpointer             user_data)
{
  GTask *task;
  Request *req;

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, request_async);

  req = g_new0 (Request, 1);
  req->method = g_strdup (method);
  req->url = g_strdup (url);
  req->path = path_of_url (url);
  req->body = body ? g_bytes_ref (body) : NULL;
  /* A POST that may have reached Cliniko is not repeated: it would make a
   * second memo. */
  req->idempotent = strcmp (method, "GET") == 0;
  g_task_set_task_data (task, req, (GDestroyNotify) request_free);

  request_start (task);
}

static JsonNode *
request_finish (GAsyncResult  *result,
                GError       **error)
{
  g_assert (g_task_get_source_tag (G_TASK (result)) == request_async);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- GObject --------------------------------------------------------- */

static void
mhf_cliniko_client_get_property (GObject    *object,
                                 guint       prop_id,
                                 GValue     *value,
                                 GParamSpec *pspec)
{
  MhfClinikoClient *self = MHF_CLINIKO_CLIENT (object);

  switch (prop_id)
    {
    case PROP_KEY_REJECTED:
      g_value_set_boolean (value, self->key_rejected);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mhf_cliniko_client_dispose (GObject *object)
{
  MhfClinikoClient *self = MHF_CLINIKO_CLIENT (object);

  g_clear_object (&self->session);
  g_clear_object (&self->limiter);

  G_OBJECT_CLASS (mhf_cliniko_client_parent_class)->dispose (object);
}

static void
mhf_cliniko_client_finalize (GObject *object)
{
  MhfClinikoClient *self = MHF_CLINIKO_CLIENT (object);

  if (self->authorization != NULL)
    memset (self->authorization, 0, strlen (self->authorization));
  g_clear_pointer (&self->authorization, g_free);
  g_clear_pointer (&self->fingerprint, g_free);
  g_clear_pointer (&self->base_url, g_free);
  g_clear_pointer (&self->base_uri, g_uri_unref);

  G_OBJECT_CLASS (mhf_cliniko_client_parent_class)->finalize (object);
}

static void
mhf_cliniko_client_class_init (MhfClinikoClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = mhf_cliniko_client_get_property;
  object_class->dispose = mhf_cliniko_client_dispose;
  object_class->finalize = mhf_cliniko_client_finalize;

  /**
   * MhfClinikoClient:key-rejected:
   *
   * Whether Cliniko answered 401 to this client's key. Once set, every
   * call fails with %MHF_CLINIKO_ERROR_UNAUTHORIZED without a request; the
   * key must be re-entered and a new client made.
   */
  properties[PROP_KEY_REJECTED] =
    g_param_spec_boolean ("key-rejected", NULL, NULL,
                          FALSE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
mhf_cliniko_client_init (MhfClinikoClient *self)
{
  self->max_attempts = DEFAULT_MAX_ATTEMPTS;
  self->base_delay_ms = DEFAULT_BASE_DELAY_MS;
}

/* ---- public API ------------------------------------------------------ */

/**
 * mhf_cliniko_user_agent:
 *
 * Returns: the User-Agent Cliniko asks for: a name plus a contact address
 */
const char *
mhf_cliniko_user_agent (void)
{
  return "MyHealthFollowup Desktop/" PACKAGE_VERSION " (" VENDOR_CONTACT ")";
}

/**
 * mhf_cliniko_client_new:
 * @base_url: "https://api.SHARD.cliniko.com/v1", or a loopback override
 *   that mhf_cliniko_base_url_is_allowed_override() accepted
 * @api_key: the key; kept only as the Authorization header
 * @user_agent: (nullable): the User-Agent, %NULL for mhf_cliniko_user_agent()
 * @limiter: (nullable): the rate limiter of the key's Cliniko user
 *
 * Returns: (transfer full): a new client
 */
MhfClinikoClient *
mhf_cliniko_client_new (const char        *base_url,
                        const char        *api_key,
                        const char        *user_agent,
                        MhfClinikoLimiter *limiter)
{
  g_autoptr(MhfClinikoClient) self = NULL;
  g_autoptr(GUri) uri = NULL;
  g_autofree char *credentials = NULL;
  g_autofree char *encoded = NULL;
  size_t len;

  g_return_val_if_fail (base_url != NULL, NULL);
  g_return_val_if_fail (api_key != NULL && *api_key != '\0', NULL);
  g_return_val_if_fail (user_agent == NULL || *user_agent != '\0', NULL);
  g_return_val_if_fail (limiter == NULL || MHF_IS_CLINIKO_LIMITER (limiter), NULL);

  uri = g_uri_parse (base_url, G_URI_FLAGS_ENCODED, NULL);
  if (uri == NULL || g_uri_get_host (uri) == NULL)
    {
      g_critical ("mhf_cliniko_client_new: base URL is not an absolute URL");
      return NULL;
    }

  self = g_object_new (MHF_TYPE_CLINIKO_CLIENT, NULL);
  self->base_uri = g_steal_pointer (&uri);
  len = strlen (base_url);
  while (len > 0 && base_url[len - 1] == '/')
    len--;
  self->base_url = g_strndup (base_url, len);

  credentials = g_strconcat (api_key, ":", NULL);
  encoded = g_base64_encode ((const guchar *) credentials, strlen (credentials));
  self->authorization = g_strconcat ("Basic ", encoded, NULL);
  memset (credentials, 0, strlen (credentials));
  memset (encoded, 0, strlen (encoded));
  self->fingerprint = mhf_cliniko_key_fingerprint (api_key);

  self->limiter = limiter ? g_object_ref (limiter) : NULL;
  self->session = soup_session_new_with_options ("user-agent", user_agent ? user_agent : mhf_cliniko_user_agent (),
                                                 "timeout", DEFAULT_TIMEOUT_SECONDS,
                                                 "idle-timeout", DEFAULT_TIMEOUT_SECONDS,
                                                 NULL);

  return g_steal_pointer (&self);
}

const char *
mhf_cliniko_client_get_base_url (MhfClinikoClient *self)
{
  g_return_val_if_fail (MHF_IS_CLINIKO_CLIENT (self), NULL);

  return self->base_url;
}

gboolean
mhf_cliniko_client_get_key_rejected (MhfClinikoClient *self)
{
  g_return_val_if_fail (MHF_IS_CLINIKO_CLIENT (self), FALSE);

  return self->key_rejected;
}

/**
 * mhf_cliniko_client_set_retry:
 * @self: a #MhfClinikoClient
 * @max_attempts: attempts per request for 5xx, timeouts and connection
 *   errors, at least 1 (default 5)
 * @base_delay_ms: the first backoff; each next one doubles (default 1000)
 */
void
mhf_cliniko_client_set_retry (MhfClinikoClient *self,
                              guint             max_attempts,
                              guint             base_delay_ms)
{
  g_return_if_fail (MHF_IS_CLINIKO_CLIENT (self));
  g_return_if_fail (max_attempts >= 1);

  self->max_attempts = max_attempts;
  self->base_delay_ms = base_delay_ms;
}

/* The per-request I/O timeout in seconds (default 30). */
void
mhf_cliniko_client_set_timeout (MhfClinikoClient *self,
                                guint             seconds)
{
  g_return_if_fail (MHF_IS_CLINIKO_CLIENT (self));
  g_return_if_fail (seconds >= 1);

  g_object_set (self->session, "timeout", seconds, NULL);
}

/**
 * mhf_cliniko_client_set_clock_func:
 * @self: a #MhfClinikoClient
 * @func: (nullable): the wall clock to compare X-RateLimit-Reset with,
 *   %NULL for g_get_real_time()
 * @user_data: data for @func
 *
 * For tests against a fake server with its own clock.
 */
void
mhf_cliniko_client_set_clock_func (MhfClinikoClient    *self,
                                   MhfClinikoClockFunc  func,
                                   gpointer             user_data)
{
  g_return_if_fail (MHF_IS_CLINIKO_CLIENT (self));

  self->clock_func = func;
  self->clock_data = user_data;
}

static void
get_cb (GObject      *object,
        GAsyncResult *result,
        gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  JsonNode *node;

  node = request_finish (result, &error);
  if (node == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, node, (GDestroyNotify) json_node_unref);
}

/**
 * mhf_cliniko_client_get_async:
 * @self: a #MhfClinikoClient
 * @path: a path under the base URL, such as "/user" or "/patients/82"
 * @params: (nullable) (array zero-terminated=1): unencoded "name=value"
 *   query parameters, such as "q[]=starts_at:>=2024-05-01T14:00:00Z";
 *   the client percent-encodes them
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the answer
 * @user_data: data for @callback
 *
 * GETs one resource; the answer's root must be a JSON object.
 */
void
mhf_cliniko_client_get_async (MhfClinikoClient    *self,
                              const char          *path,
                              const char * const  *params,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autofree char *url = NULL;

  g_return_if_fail (MHF_IS_CLINIKO_CLIENT (self));
  g_return_if_fail (path != NULL && path[0] == '/' && strchr (path, '?') == NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mhf_cliniko_client_get_async);

  url = build_url (self, path, params);
  request_async (self, "GET", url, NULL, cancellable, get_cb, g_steal_pointer (&task));
}

/**
 * mhf_cliniko_client_get_finish:
 *
 * Returns: (transfer full): the answer, whose root is an object
 */
JsonNode *
mhf_cliniko_client_get_finish (MhfClinikoClient  *self,
                               GAsyncResult      *result,
                               GError           **error)
{
  g_return_val_if_fail (MHF_IS_CLINIKO_CLIENT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == mhf_cliniko_client_get_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- lists ----------------------------------------------------------- */

static void list_fetch (GTask *task, const char *url);

/* Adds the rows of one page; FALSE with @error if the page is malformed. */
static gboolean
list_take_page (ListData    *data,
                JsonObject  *page,
                GError     **error)
{
  JsonNode *member = json_object_get_member (page, data->collection_key);
  JsonArray *array;
  guint n;

  if (member == NULL || !JSON_NODE_HOLDS_ARRAY (member))
    {
      g_set_error (error, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_MALFORMED,
                   "Cliniko's page of %s has no \"%s\" array", data->path, data->collection_key);
      return FALSE;
    }

  array = json_node_get_array (member);
  n = json_array_get_length (array);
  for (guint i = 0; i < n; i++)
    {
      JsonNode *element = json_array_get_element (array, i);
      JsonObject *row;
      JsonNode *id_node;
      g_autofree char *key = NULL;

      if (!JSON_NODE_HOLDS_OBJECT (element))
        {
          g_set_error (error, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_MALFORMED,
                       "Cliniko's list %s holds a row that is not an object", data->path);
          return FALSE;
        }
      row = json_node_get_object (element);

      /* Ids are 64-bit integers sent as strings; older answers used
       * numbers. Keep them exact and hand on strings only. */
      id_node = json_object_get_member (row, "id");
      if (id_node != NULL && JSON_NODE_HOLDS_VALUE (id_node) &&
          json_node_get_value_type (id_node) == G_TYPE_STRING &&
          *json_node_get_string (id_node) != '\0')
        key = g_strdup (json_node_get_string (id_node));
      else if (id_node != NULL && JSON_NODE_HOLDS_VALUE (id_node) &&
               json_node_get_value_type (id_node) == G_TYPE_INT64)
        {
          key = g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (id_node));
          json_object_set_string_member (row, "id", key);
        }
      else if (id_node != NULL && !JSON_NODE_HOLDS_NULL (id_node))
        {
          g_set_error (error, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_MALFORMED,
                       "Cliniko's list %s holds a row whose id is neither a string nor an integer",
                       data->path);
          return FALSE;
        }
      else
        {
          /* Tombstones such as /patients/deleted carry only links.self. */
          JsonNode *links = json_object_get_member (row, "links");

          if (links != NULL && JSON_NODE_HOLDS_OBJECT (links))
            {
              const char *self_link = json_object_get_string_member_with_default (json_node_get_object (links),
                                                                                  "self", NULL);
              if (self_link != NULL)
                key = g_strconcat ("link:", self_link, NULL);
            }
        }

      if (key != NULL)
        {
          if (g_hash_table_contains (data->seen_ids, key))
            continue;
          g_hash_table_add (data->seen_ids, g_steal_pointer (&key));
        }
      g_ptr_array_add (data->rows, json_object_ref (row));
    }

  return TRUE;
}

/* Follows links.next exactly as given, but puts back any of our
 * parameters it dropped (that Cliniko keeps them is unconfirmed). */
static char *
list_next_url (MhfClinikoClient  *self,
               ListData          *data,
               JsonObject        *page,
               GError           **error)
{
  JsonNode *links = json_object_get_member (page, "links");
  JsonNode *next;
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GHashTable) present = NULL;
  g_autoptr(GString) url = NULL;
  const char *query;

  if (links == NULL || JSON_NODE_HOLDS_NULL (links))
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (links))
    goto malformed;

  next = json_object_get_member (json_node_get_object (links), "next");
  if (next == NULL || JSON_NODE_HOLDS_NULL (next))
    return NULL;
  if (!JSON_NODE_HOLDS_VALUE (next) || json_node_get_value_type (next) != G_TYPE_STRING)
    goto malformed;

  uri = g_uri_parse (json_node_get_string (next), G_URI_FLAGS_ENCODED, NULL);
  if (uri == NULL)
    goto malformed;
  if (!same_origin (self, uri))
    {
      g_set_error (error, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_MALFORMED,
                   "Cliniko's next page of %s points to another server; not followed",
                   data->path);
      return NULL;
    }

  url = g_string_new (json_node_get_string (next));
  query = g_uri_get_query (uri);
  if (query != NULL)
    present = g_uri_parse_params (query, -1, "&", G_URI_PARAMS_NONE, NULL);
  if (present == NULL)
    present = g_hash_table_new (g_str_hash, g_str_equal);

  for (guint i = 0; data->params[i] != NULL; i++)
    {
      g_autofree char *name = param_name (data->params[i]);

      if (g_hash_table_contains (present, name))
        continue;
      /* Our params come first in the URL, so appending keeps their order. */
      if (g_uri_get_fragment (uri) != NULL)
        goto malformed;
      g_debug ("Cliniko: next page of %s dropped a parameter; re-appending it", data->path);
      append_param (url, data->params[i]);
    }

  return g_string_free (g_steal_pointer (&url), FALSE);

malformed:
  g_set_error (error, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_MALFORMED,
               "Cliniko's page of %s has malformed links", data->path);
  return NULL;
}

static void
list_page_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  MhfClinikoClient *self = g_task_get_source_object (task);
  ListData *data = g_task_get_task_data (task);
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *next = NULL;
  JsonObject *page;

  node = request_finish (result, &error);
  if (node == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  page = json_node_get_object (node);
  if (!list_take_page (data, page, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  next = list_next_url (self, data, page, &error);
  if (error != NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  if (next == NULL)
    {
      g_debug ("Cliniko: listed %u rows of %s in %u pages",
               data->rows->len, data->path, g_hash_table_size (data->seen_urls));
      g_task_return_pointer (task, g_ptr_array_ref (data->rows), (GDestroyNotify) g_ptr_array_unref);
      return;
    }

  if (g_hash_table_contains (data->seen_urls, next) ||
      g_hash_table_size (data->seen_urls) >= LIST_MAX_PAGES)
    {
      g_task_return_new_error (task, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_MALFORMED,
                               "Cliniko's pages of %s do not end", data->path);
      return;
    }

  list_fetch (g_steal_pointer (&task), next);
}

/* Takes the task. */
static void
list_fetch (GTask      *task,
            const char *url)
{
  MhfClinikoClient *self = g_task_get_source_object (task);
  ListData *data = g_task_get_task_data (task);

  g_hash_table_add (data->seen_urls, g_strdup (url));
  request_async (self, "GET", url, NULL, g_task_get_cancellable (task), list_page_cb, task);
}

/**
 * mhf_cliniko_client_list_async:
 * @self: a #MhfClinikoClient
 * @path: a list path, such as "/individual_appointments"
 * @collection_key: the member holding the rows, such as
 *   "individual_appointments"
 * @params: (nullable) (array zero-terminated=1): unencoded "name=value"
 *   parameters (q[], sort); per_page=100 is added unless given
 * @cancellable: (nullable): a #GCancellable
 * @callback: called once every page is read, or on the first error
 * @user_data: data for @callback
 *
 * Reads every page of a list by following links.next. Rows are
 * deduplicated by id across pages, since offset paging can shift.
 */
void
mhf_cliniko_client_list_async (MhfClinikoClient    *self,
                               const char          *path,
                               const char          *collection_key,
                               const char * const  *params,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autofree char *url = NULL;
  ListData *data;

  g_return_if_fail (MHF_IS_CLINIKO_CLIENT (self));
  g_return_if_fail (path != NULL && path[0] == '/' && strchr (path, '?') == NULL);
  g_return_if_fail (collection_key != NULL && *collection_key != '\0');
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mhf_cliniko_client_list_async);

  if (params != NULL)
    g_strv_builder_addv (builder, (const char **) params);
  if (!params_have (params, "per_page"))
    g_strv_builder_add (builder, "per_page=" LIST_PER_PAGE);

  data = g_new0 (ListData, 1);
  data->path = g_strdup (path);
  data->collection_key = g_strdup (collection_key);
  data->params = g_strv_builder_end (builder);
  data->rows = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  data->seen_ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  data->seen_urls = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_task_set_task_data (task, data, (GDestroyNotify) list_data_free);

  url = build_url (self, path, (const char * const *) data->params);
  list_fetch (g_steal_pointer (&task), url);
}

/**
 * mhf_cliniko_client_list_finish:
 *
 * Returns: (transfer container) (element-type JsonObject): the rows, in
 *   the server's order; ids are always strings
 */
GPtrArray *
mhf_cliniko_client_list_finish (MhfClinikoClient  *self,
                                GAsyncResult      *result,
                                GError           **error)
{
  g_return_val_if_fail (MHF_IS_CLINIKO_CLIENT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == mhf_cliniko_client_list_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- writes ---------------------------------------------------------- */

/**
 * mhf_cliniko_client_post_async:
 * @self: a #MhfClinikoClient
 * @path: such as "/communications"
 * @body: the JSON body, an object
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the answer
 * @user_data: data for @callback
 *
 * POSTs a JSON body. It is retried after 429 and after errors raised
 * before anything was sent, never after a 5xx or a timeout, since the
 * first try may have been stored.
 */
void
mhf_cliniko_client_post_async (MhfClinikoClient    *self,
                               const char          *path,
                               JsonNode            *body,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autofree char *url = NULL;
  char *text;

  g_return_if_fail (MHF_IS_CLINIKO_CLIENT (self));
  g_return_if_fail (path != NULL && path[0] == '/' && strchr (path, '?') == NULL);
  g_return_if_fail (body != NULL && JSON_NODE_HOLDS_OBJECT (body));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mhf_cliniko_client_post_async);

  text = json_to_string (body, FALSE);
  bytes = g_bytes_new_take (text, strlen (text));
  url = build_url (self, path, NULL);
  request_async (self, "POST", url, bytes, cancellable, get_cb, g_steal_pointer (&task));
}

/**
 * mhf_cliniko_client_post_finish:
 *
 * Returns: (transfer full): the answer, whose root is an object (empty for
 *   a 204)
 */
JsonNode *
mhf_cliniko_client_post_finish (MhfClinikoClient  *self,
                                GAsyncResult      *result,
                                GError           **error)
{
  g_return_val_if_fail (MHF_IS_CLINIKO_CLIENT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == mhf_cliniko_client_post_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
