/* mhf-mail.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * One e-mail as MIME, with GMime 3: UTF-8 everywhere (GMime would pick
 * iso-8859-1 for text that fits it; we never let it), quoted-printable
 * text parts, multipart/alternative when there is HTML, CRLF line ends.
 * No patient data in any header but To. Also: what counts as a usable
 * address, how an address is masked for history, and how it is
 * normalised before it is hashed.
 */

#include "config.h"

#include "mhf-mail.h"

#include <gmime/gmime.h>
#include <string.h>

void
mhf_mail_init (void)
{
  static gsize initialised = 0;

  if (g_once_init_enter (&initialised))
    {
      g_mime_init ();
      g_once_init_leave (&initialised, 1);
    }
}

static GMimeObject *
text_part (const char *subtype,
           const char *text)
{
  GMimeTextPart *part = g_mime_text_part_new_with_subtype (subtype);
  GMimeStream *stream = g_mime_stream_mem_new_with_buffer (text, strlen (text));
  GMimeDataWrapper *content = g_mime_data_wrapper_new_with_stream (stream,
                                                                   GMIME_CONTENT_ENCODING_DEFAULT);

  g_mime_part_set_content (GMIME_PART (part), content);
  g_object_unref (content);
  g_object_unref (stream);
  g_mime_text_part_set_charset (part, "utf-8");
  g_mime_part_set_content_encoding (GMIME_PART (part), GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
  return GMIME_OBJECT (part);
}

static void
add_mailbox (GMimeMessage     *message,
             GMimeAddressType  type,
             const char       *name,
             const char       *address)
{
  InternetAddress *mailbox = internet_address_mailbox_new (name, address);

  internet_address_set_charset (mailbox, "utf-8");
  internet_address_list_add (g_mime_message_get_addresses (message, type), mailbox);
  g_object_unref (mailbox);
}

/**
 * mhf_mail_compose:
 *
 * Returns: (transfer full): the message, CRLF line ends, ready for SMTP
 */
GBytes *
mhf_mail_compose (const MhfMailParts *parts)
{
  GMimeMessage *message;
  GMimeObject *body;
  g_autoptr(GDateTime) date = NULL;
  g_autofree char *text = NULL;
  g_autofree char *html = NULL;
  GMimeFormatOptions *options;
  char *out;

  mhf_mail_init ();

  message = g_mime_message_new (TRUE);
  add_mailbox (message, GMIME_ADDRESS_TYPE_FROM, parts->from_name, parts->from_address);
  add_mailbox (message, GMIME_ADDRESS_TYPE_TO, NULL, parts->to_address);
  if (parts->reply_to != NULL && *parts->reply_to != '\0')
    add_mailbox (message, GMIME_ADDRESS_TYPE_REPLY_TO, NULL, parts->reply_to);
  g_mime_message_set_subject (message, parts->subject, "utf-8");
  date = g_date_time_new_from_unix_utc (parts->date / G_USEC_PER_SEC);
  g_mime_message_set_date (message, date);
  g_mime_message_set_message_id (message, parts->message_id);
  g_mime_object_set_header (GMIME_OBJECT (message), "Auto-Submitted", "auto-generated", "utf-8");

  text = g_strdup (parts->text);
  html = g_strdup (parts->html);
  if (parts->unsubscribe != NULL)
    {
      g_autofree char *list = g_strdup_printf ("<mailto:%s?subject=unsubscribe>",
                                               parts->unsubscribe);
      g_autofree char *escaped = g_markup_escape_text (parts->footer_text ?: "", -1);

      g_mime_object_set_header (GMIME_OBJECT (message), "List-Unsubscribe", list, "utf-8");
      if (parts->footer_text != NULL)
        {
          g_free (text);
          text = g_strdup_printf ("%s\n\n-- \n%s\n", parts->text, parts->footer_text);
          if (html != NULL)
            {
              g_free (html);
              html = g_strdup_printf ("%s\n<hr>\n<p style=\"font-size:small\">%s</p>\n",
                                      parts->html, escaped);
            }
        }
    }

  if (html != NULL && *html != '\0')
    {
      GMimeObject *plain = text_part ("plain", text);
      GMimeObject *rich = text_part ("html", html);
      GMimeMultipart *alternative = g_mime_multipart_new_with_subtype ("alternative");

      g_mime_multipart_add (alternative, plain);
      g_mime_multipart_add (alternative, rich);
      g_object_unref (plain);
      g_object_unref (rich);
      body = GMIME_OBJECT (alternative);
    }
  else
    body = text_part ("plain", text);
  g_mime_message_set_mime_part (message, body);
  g_object_unref (body);

  options = g_mime_format_options_new ();
  g_mime_format_options_set_newline_format (options, GMIME_NEWLINE_FORMAT_DOS);
  out = g_mime_object_to_string (GMIME_OBJECT (message), options);
  g_mime_format_options_free (options);
  g_object_unref (message);

  /* The rendered text is patient data: gone once the bytes exist. */
  if (text != NULL)
    memset (text, 0, strlen (text));
  if (html != NULL)
    memset (html, 0, strlen (html));
  return g_bytes_new_take (out, strlen (out));
}

static gboolean
is_atext (char c)
{
  return g_ascii_isalnum (c) || strchr ("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/**
 * mhf_mail_address_is_valid:
 *
 * A plain addr-spec we can send to: a dot-atom local part of at most 64
 * characters, a domain of LDH labels with at least one dot and a
 * letters-only top-level label, 254 characters in all. No quoted local
 * parts, IP literals, spaces, display names or lists.
 */
gboolean
mhf_mail_address_is_valid (const char *address)
{
  const char *at, *label;
  gsize local_len, len;

  if (address == NULL)
    return FALSE;
  len = strlen (address);
  at = strchr (address, '@');
  if (len > 254 || at == NULL || strchr (at + 1, '@') != NULL)
    return FALSE;

  local_len = (gsize) (at - address);
  if (local_len == 0 || local_len > 64 || address[0] == '.' || at[-1] == '.')
    return FALSE;
  for (const char *p = address; p < at; p++)
    {
      if (*p == '.' ? p[1] == '.' : !is_atext (*p))
        return FALSE;
    }

  label = at + 1;
  if (*label == '\0' || strchr (label, '.') == NULL)
    return FALSE;
  for (;;)
    {
      const char *end = strchr (label, '.');
      gsize n = end != NULL ? (gsize) (end - label) : strlen (label);

      if (n == 0 || n > 63 || label[0] == '-' || label[n - 1] == '-')
        return FALSE;
      for (gsize i = 0; i < n; i++)
        {
          if (!g_ascii_isalnum (label[i]) && label[i] != '-')
            return FALSE;
          if (end == NULL && !g_ascii_isalpha (label[i]))
            return FALSE;   /* the top-level label: letters only */
        }
      if (end == NULL)
        return n >= 2;
      label = end + 1;
    }
}

/* Trimmed and lower-cased, for the keyed hash: one person, one hash. */
char *
mhf_mail_normalise_address (const char *address)
{
  g_autofree char *trimmed = g_strstrip (g_strdup (address ?: ""));

  return g_ascii_strdown (trimmed, -1);
}

static void
mask_part (GString    *out,
           const char *part,
           gsize       n)
{
  if (n > 0)
    g_string_append_c (out, part[0]);
  g_string_append (out, "***");
}

/**
 * mhf_mail_mask_address:
 *
 * "pat@example.com" → "p***@e***.com": enough for a person to recognise,
 * not enough to write to.
 */
char *
mhf_mail_mask_address (const char *address)
{
  GString *out = g_string_new (NULL);
  const char *at = address != NULL ? strrchr (address, '@') : NULL;
  const char *dot;

  if (at == NULL)
    {
      g_string_append (out, "***");
      return g_string_free (out, FALSE);
    }

  mask_part (out, address, (gsize) (at - address));
  g_string_append_c (out, '@');
  dot = strrchr (at + 1, '.');
  if (dot == NULL)
    mask_part (out, at + 1, strlen (at + 1));
  else
    {
      mask_part (out, at + 1, (gsize) (dot - at - 1));
      g_string_append (out, dot);
    }
  return g_string_free (out, FALSE);
}

/* Stable for one outbox row: a retry sends the same Message-ID, so that a
 * receiving server can tell a duplicate. */
char *
mhf_mail_message_id (gint64      clinic_id,
                     gint64      outbox_id,
                     const char *from_address)
{
  const char *at = from_address != NULL ? strrchr (from_address, '@') : NULL;

  return g_strdup_printf ("mhf-%" G_GINT64_FORMAT "-%" G_GINT64_FORMAT "@%s", clinic_id,
                          outbox_id, at != NULL && at[1] != '\0' ? at + 1 : "localhost");
}
