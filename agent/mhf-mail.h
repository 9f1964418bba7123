/* mhf-mail.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* What one e-mail is made of, already rendered. */
typedef struct
{
  const char *from_name;
  const char *from_address;
  const char *reply_to;        /* nullable */
  const char *to_address;
  const char *subject;
  const char *text;
  const char *html;            /* nullable */
  const char *message_id;      /* without angle brackets */
  gint64      date;            /* µs UTC */
  /* Marketing: a footer on every part, and List-Unsubscribe to this
   * mailto address (the clinic's reply address). */
  const char *unsubscribe;     /* nullable: not marketing */
  const char *footer_text;     /* nullable */
} MhfMailParts;

void      mhf_mail_init                (void);
GBytes   *mhf_mail_compose             (const MhfMailParts *parts);
gboolean  mhf_mail_address_is_valid    (const char         *address);
char     *mhf_mail_normalise_address   (const char         *address);
char     *mhf_mail_mask_address        (const char         *address);
char     *mhf_mail_message_id          (gint64              clinic_id,
                                        gint64              outbox_id,
                                        const char         *from_address);

G_END_DECLS
