/* mhf-cliniko-limiter.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * A rolling-window rate limiter: at most max_requests grants in any
 * window_ms, on the monotonic clock. Callers over the limit are queued in
 * order and granted as the oldest grant ages out; nobody is ever refused.
 * The agent keeps one per Cliniko user, since Cliniko counts per user.
 */

#include "config.h"

#include "mhf-cliniko-limiter.h"

/* How many grant times are kept for mhf_cliniko_limiter_dup_grant_times(). */
#define HISTORY_MAX 1024

typedef struct
{
  MhfClinikoLimiter *limiter;      /* borrowed; the task holds a reference */
  GTask             *task;
  GSource           *cancel_source;
} Waiter;

struct _MhfClinikoLimiter
{
  GObject  parent_instance;

  guint    max_requests;
  guint    window_ms;

  /* Grant times (µs, monotonic) inside the current window, oldest first. */
  GArray  *recent;
  /* The last HISTORY_MAX grant times, for tests and diagnostics. */
  GArray  *history;
  /* Waiter*, first come first served. */
  GQueue   waiters;
  GSource *timer;
};

G_DEFINE_FINAL_TYPE (MhfClinikoLimiter, mhf_cliniko_limiter, G_TYPE_OBJECT)

static void schedule (MhfClinikoLimiter *self);

static void
waiter_free (Waiter *waiter)
{
  if (waiter->cancel_source != NULL)
    {
      g_source_destroy (waiter->cancel_source);
      g_source_unref (waiter->cancel_source);
    }
  g_clear_object (&waiter->task);
  g_free (waiter);
}

static void
prune (MhfClinikoLimiter *self,
       gint64             now)
{
  gint64 window = (gint64) self->window_ms * 1000;
  guint n = 0;

  while (n < self->recent->len && now - g_array_index (self->recent, gint64, n) >= window)
    n++;
  if (n > 0)
    g_array_remove_range (self->recent, 0, n);
}

static void
record_grant (MhfClinikoLimiter *self,
              gint64             now)
{
  g_array_append_val (self->recent, now);
  if (self->history->len >= HISTORY_MAX)
    g_array_remove_index (self->history, 0);
  g_array_append_val (self->history, now);
}

/* Grants as many queued callers as the window allows. Completing a task
 * may call back into acquire_async(), so the queue is re-read each turn. */
static void
dispatch (MhfClinikoLimiter *self)
{
  while (!g_queue_is_empty (&self->waiters))
    {
      gint64 now = g_get_monotonic_time ();
      Waiter *waiter;
      g_autoptr(GTask) task = NULL;

      prune (self, now);
      if (self->recent->len >= self->max_requests)
        break;

      waiter = g_queue_pop_head (&self->waiters);
      task = g_steal_pointer (&waiter->task);
      waiter_free (waiter);

      if (g_task_return_error_if_cancelled (task))
        continue;

      record_grant (self, now);
      g_task_return_boolean (task, TRUE);
    }

  schedule (self);
}

static gboolean
timer_cb (gpointer user_data)
{
  MhfClinikoLimiter *self = user_data;

  g_clear_pointer (&self->timer, g_source_unref);
  dispatch (self);
  return G_SOURCE_REMOVE;
}

/* Arms the timer for the moment the oldest grant leaves the window. */
static void
schedule (MhfClinikoLimiter *self)
{
  Waiter *head;
  gint64 due, remaining;
  guint delay_ms;

  if (self->timer != NULL || g_queue_is_empty (&self->waiters))
    return;

  if (self->recent->len == 0)
    delay_ms = 0;
  else
    {
      due = g_array_index (self->recent, gint64, 0) + (gint64) self->window_ms * 1000;
      remaining = due - g_get_monotonic_time ();
      /* Round up: a timer that fires early just re-arms itself. */
      delay_ms = remaining <= 0 ? 0 : (guint) ((remaining + 999) / 1000);
    }

  head = g_queue_peek_head (&self->waiters);
  self->timer = g_timeout_source_new (delay_ms);
  g_source_set_static_name (self->timer, "[mhf] cliniko limiter");
  g_source_set_callback (self->timer, timer_cb, self, NULL);
  g_source_attach (self->timer, g_task_get_context (head->task));
}

static gboolean
waiter_cancelled_cb (GCancellable *cancellable,
                     gpointer      user_data)
{
  Waiter *waiter = user_data;
  MhfClinikoLimiter *self = waiter->limiter;
  g_autoptr(GTask) task = g_steal_pointer (&waiter->task);

  g_queue_remove (&self->waiters, waiter);
  waiter_free (waiter);
  g_task_return_error_if_cancelled (task);
  return G_SOURCE_REMOVE;
}

static void
mhf_cliniko_limiter_dispose (GObject *object)
{
  MhfClinikoLimiter *self = MHF_CLINIKO_LIMITER (object);
  Waiter *waiter;

  if (self->timer != NULL)
    {
      g_source_destroy (self->timer);
      g_clear_pointer (&self->timer, g_source_unref);
    }

  /* Only reachable through g_object_run_dispose(): waiters' tasks hold a
   * reference. */
  while ((waiter = g_queue_pop_head (&self->waiters)) != NULL)
    {
      g_autoptr(GTask) task = g_steal_pointer (&waiter->task);

      waiter_free (waiter);
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                               "The rate limiter was disposed");
    }

  G_OBJECT_CLASS (mhf_cliniko_limiter_parent_class)->dispose (object);
}

static void
mhf_cliniko_limiter_finalize (GObject *object)
{
  MhfClinikoLimiter *self = MHF_CLINIKO_LIMITER (object);

  g_clear_pointer (&self->recent, g_array_unref);
  g_clear_pointer (&self->history, g_array_unref);

  G_OBJECT_CLASS (mhf_cliniko_limiter_parent_class)->finalize (object);
}

static void
mhf_cliniko_limiter_class_init (MhfClinikoLimiterClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = mhf_cliniko_limiter_dispose;
  object_class->finalize = mhf_cliniko_limiter_finalize;
}

static void
mhf_cliniko_limiter_init (MhfClinikoLimiter *self)
{
  self->recent = g_array_new (FALSE, FALSE, sizeof (gint64));
  self->history = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_queue_init (&self->waiters);
}

/**
 * mhf_cliniko_limiter_new:
 * @max_requests: grants allowed in any window; 0 means the default (180)
 * @window_ms: the window length; 0 means the default (60000)
 *
 * Returns: (transfer full): a new limiter
 */
MhfClinikoLimiter *
mhf_cliniko_limiter_new (guint max_requests,
                         guint window_ms)
{
  MhfClinikoLimiter *self = g_object_new (MHF_TYPE_CLINIKO_LIMITER, NULL);

  self->max_requests = max_requests ? max_requests : MHF_CLINIKO_LIMITER_DEFAULT_MAX_REQUESTS;
  self->window_ms = window_ms ? window_ms : MHF_CLINIKO_LIMITER_DEFAULT_WINDOW_MS;
  return self;
}

guint
mhf_cliniko_limiter_get_max_requests (MhfClinikoLimiter *self)
{
  g_return_val_if_fail (MHF_IS_CLINIKO_LIMITER (self), 0);

  return self->max_requests;
}

guint
mhf_cliniko_limiter_get_window_ms (MhfClinikoLimiter *self)
{
  g_return_val_if_fail (MHF_IS_CLINIKO_LIMITER (self), 0);

  return self->window_ms;
}

/* How many callers are queued right now. */
guint
mhf_cliniko_limiter_get_n_waiting (MhfClinikoLimiter *self)
{
  g_return_val_if_fail (MHF_IS_CLINIKO_LIMITER (self), 0);

  return self->waiters.length;
}

/**
 * mhf_cliniko_limiter_acquire_async:
 * @self: a #MhfClinikoLimiter
 * @cancellable: (nullable): cancels the wait, not a grant already made
 * @callback: called once the caller may send one request
 * @user_data: data for @callback
 *
 * Completes at once while fewer than max_requests were granted in the last
 * window, else queues behind earlier callers. It only fails when cancelled.
 */
void
mhf_cliniko_limiter_acquire_async (MhfClinikoLimiter   *self,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  gint64 now = g_get_monotonic_time ();
  Waiter *waiter;

  g_return_if_fail (MHF_IS_CLINIKO_LIMITER (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mhf_cliniko_limiter_acquire_async);

  if (g_task_return_error_if_cancelled (task))
    return;

  prune (self, now);
  if (g_queue_is_empty (&self->waiters) && self->recent->len < self->max_requests)
    {
      record_grant (self, now);
      g_task_return_boolean (task, TRUE);
      return;
    }

  waiter = g_new0 (Waiter, 1);
  waiter->limiter = self;
  waiter->task = g_steal_pointer (&task);
  if (cancellable != NULL)
    {
      waiter->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_static_name (waiter->cancel_source, "[mhf] cliniko limiter cancel");
      g_source_set_callback (waiter->cancel_source, G_SOURCE_FUNC (waiter_cancelled_cb), waiter, NULL);
      g_source_attach (waiter->cancel_source, g_task_get_context (waiter->task));
    }
  g_queue_push_tail (&self->waiters, waiter);
  schedule (self);
}

gboolean
mhf_cliniko_limiter_acquire_finish (MhfClinikoLimiter  *self,
                                    GAsyncResult       *result,
                                    GError            **error)
{
  g_return_val_if_fail (MHF_IS_CLINIKO_LIMITER (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == mhf_cliniko_limiter_acquire_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * mhf_cliniko_limiter_dup_grant_times:
 * @self: a #MhfClinikoLimiter
 *
 * Returns: (transfer full) (element-type gint64): the monotonic times (µs)
 *   of the most recent grants (up to 1024), oldest first
 */
GArray *
mhf_cliniko_limiter_dup_grant_times (MhfClinikoLimiter *self)
{
  GArray *copy;

  g_return_val_if_fail (MHF_IS_CLINIKO_LIMITER (self), NULL);

  copy = g_array_sized_new (FALSE, FALSE, sizeof (gint64), self->history->len);
  g_array_append_vals (copy, self->history->data, self->history->len);
  return copy;
}
