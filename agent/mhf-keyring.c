/* mhf-keyring.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Secrets in the Secret Service through libsecret's asynchronous calls.
 * There is no plaintext fallback: when no keyring can be used, callers get
 * MHF_ERROR_KEYRING_UNAVAILABLE or MHF_ERROR_KEYRING_LOCKED and the agent
 * says so in its status.
 */

#include "config.h"

#include "mhf-keyring.h"

#include "mhf-error.h"

const SecretSchema *
mhf_keyring_get_schema (void)
{
  static const SecretSchema schema = {
    "com.myhealthfollowup.MyHealthFollowup.Secret",
    SECRET_SCHEMA_NONE,
    {
      { "kind", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { "clinic", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { NULL, 0 },
    },
  };

  return &schema;
}

/* Lower-level errors carry D-Bus details; callers get our domain and a
 * message fit for a status line, and the detail goes to the debug log. */
static GError *
wrap_error (const GError *error,
            const char   *what)
{
  g_debug ("Keyring: %s failed: %s (%s, %d)",
           what, error->message, g_quark_to_string (error->domain), error->code);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return g_error_copy (error);

  if (error->domain == SECRET_ERROR && error->code == SECRET_ERROR_IS_LOCKED)
    return g_error_new (MHF_ERROR, MHF_ERROR_KEYRING_LOCKED,
                        "%s: the keyring is locked", what);

  /* A prompt that cannot be shown (no display, no prompter) or that the
   * user dismissed also means the collection stays locked. */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_FAILED_HANDLED))
    return g_error_new (MHF_ERROR, MHF_ERROR_KEYRING_LOCKED,
                        "%s: the keyring is locked", what);

  return g_error_new (MHF_ERROR, MHF_ERROR_KEYRING_UNAVAILABLE,
                      "%s: no usable Secret Service on the session bus", what);
}

/* ---- probe ---------------------------------------------------------------- */

static void
probe_collection_cb (GObject      *object,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(SecretCollection) collection = NULL;
  g_autoptr(GError) error = NULL;

  collection = secret_collection_for_alias_finish (result, &error);
  if (error != NULL)
    {
      g_debug ("Keyring: reading the default collection failed: %s", error->message);
      g_task_return_int (task, MHF_KEYRING_STATE_UNAVAILABLE);
      return;
    }

  g_debug ("Keyring: default collection %s, %s",
           collection ? g_dbus_proxy_get_object_path (G_DBUS_PROXY (collection)) : "absent",
           collection && secret_collection_get_locked (collection) ? "locked" : "unlocked");

  /* No default collection means storing would need a prompt to create one;
   * for the user that is the same as a locked keyring. */
  if (collection == NULL || secret_collection_get_locked (collection))
    g_task_return_int (task, MHF_KEYRING_STATE_LOCKED);
  else
    g_task_return_int (task, MHF_KEYRING_STATE_OK);
}

static void
probe_service_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(SecretService) service = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *owner = NULL;
  GCancellable *cancellable;

  service = secret_service_get_finish (result, &error);
  if (service == NULL)
    {
      g_debug ("Keyring: no Secret Service: %s", error->message);
      g_task_return_int (task, MHF_KEYRING_STATE_UNAVAILABLE);
      return;
    }

  /* A proxy exists even when nobody owns the name; ask the service. */
  owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (service));
  if (owner == NULL)
    {

      g_debug ("Keyring: org.freedesktop.secrets has no owner");
      secret_service_disconnect ();
      g_task_return_int (task, MHF_KEYRING_STATE_UNAVAILABLE);
      return;
    }

  cancellable = g_task_get_cancellable (task);
  secret_collection_for_alias (service, SECRET_COLLECTION_DEFAULT,
                               SECRET_COLLECTION_NONE, cancellable,
                               probe_collection_cb, g_steal_pointer (&task));
}

/**
 * mhf_keyring_probe_async:
 *
 * Finds out, without prompting, whether secrets can be stored and read:
 * a Secret Service owns its name on the session bus and its default
 * collection exists and is unlocked.
 */
void
mhf_keyring_probe_async (GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, mhf_keyring_probe_async);

  secret_service_get (SECRET_SERVICE_NONE, cancellable,
                      probe_service_cb, g_steal_pointer (&task));
}

MhfKeyringState
mhf_keyring_probe_finish (GAsyncResult  *result,
                          GError       **error)
{
  gssize state;

  g_return_val_if_fail (g_task_is_valid (result, NULL), MHF_KEYRING_STATE_UNKNOWN);

  state = g_task_propagate_int (G_TASK (result), error);
  if (state < 0)
    return MHF_KEYRING_STATE_UNKNOWN;
  return (MhfKeyringState) state;
}

/* ---- store, lookup, clear --------------------------------------------------- */

static void
store_cb (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (!secret_password_store_finish (result, &error))
    g_task_return_error (task, wrap_error (error, "Storing a secret"));
  else
    g_task_return_boolean (task, TRUE);
}

/**
 * mhf_keyring_store_async:
 * @kind: which secret this is, one of the MHF_SECRET_KIND_* values
 * @clinic: the clinic id, or %MHF_SECRET_NO_CLINIC
 * @label: a label a person sees in a keyring manager
 * @secret: the secret; it is not kept after the call
 *
 * Stores @secret in the default collection, replacing any item with the
 * same kind and clinic.
 */
void
mhf_keyring_store_async (const char          *kind,
                         const char          *clinic,
                         const char          *label,
                         const char          *secret,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (kind != NULL);
  g_return_if_fail (clinic != NULL);
  g_return_if_fail (label != NULL);
  g_return_if_fail (secret != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, mhf_keyring_store_async);

  secret_password_store (mhf_keyring_get_schema (), SECRET_COLLECTION_DEFAULT,
                         label, secret, cancellable, store_cb, g_steal_pointer (&task),
                         "kind", kind,
                         "clinic", clinic,
                         NULL);
}

gboolean
mhf_keyring_store_finish (GAsyncResult  *result,
                          GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
lookup_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  char *secret;

  secret = secret_password_lookup_finish (result, &error);
  if (error != NULL)
    g_task_return_error (task, wrap_error (error, "Reading a secret"));
  else
    g_task_return_pointer (task, secret, (GDestroyNotify) mhf_keyring_secret_free);
}

/**
 * mhf_keyring_lookup_async:
 *
 * Looks a secret up. Finishes with %NULL and no error when no item exists.
 */
void
mhf_keyring_lookup_async (const char          *kind,
                          const char          *clinic,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (kind != NULL);
  g_return_if_fail (clinic != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, mhf_keyring_lookup_async);

  secret_password_lookup (mhf_keyring_get_schema (), cancellable,
                          lookup_cb, g_steal_pointer (&task),
                          "kind", kind,
                          "clinic", clinic,
                          NULL);
}

/**
 * mhf_keyring_lookup_finish:
 *
 * Returns: (transfer full) (nullable): the secret, to be freed with
 *   mhf_keyring_secret_free(), or %NULL when there is none or on error
 */
char *
mhf_keyring_lookup_finish (GAsyncResult  *result,
                           GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
clear_cb (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  gboolean removed;

  removed = secret_password_clear_finish (result, &error);
  if (error != NULL)
    g_task_return_error (task, wrap_error (error, "Removing a secret"));
  else
    g_task_return_boolean (task, removed);
}

void
mhf_keyring_clear_async (const char          *kind,
                         const char          *clinic,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (kind != NULL);
  g_return_if_fail (clinic != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, mhf_keyring_clear_async);

  secret_password_clear (mhf_keyring_get_schema (), cancellable,
                         clear_cb, g_steal_pointer (&task),
                         "kind", kind,
                         "clinic", clinic,
                         NULL);
}

/**
 * mhf_keyring_clear_finish:
 *
 * Returns: %TRUE when an item was removed, %FALSE when there was none or on
 *   error (then @error is set)
 */
gboolean
mhf_keyring_clear_finish (GAsyncResult  *result,
                          GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * mhf_keyring_secret_free:
 *
 * Wipes and frees a secret returned by mhf_keyring_lookup_finish().
 */
void
mhf_keyring_secret_free (char *secret)
{
  secret_password_free (secret);
}
