/* mhf-template.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  MHF_TEMPLATE_TEXT,     /* plain text: values as they are */
  MHF_TEMPLATE_HTML,     /* HTML: values escaped */
  MHF_TEMPLATE_SUBJECT,  /* a header: line breaks in values become spaces */
} MhfTemplateMode;

typedef struct _MhfTemplate MhfTemplate;

const char * const *mhf_template_variables     (void);
MhfTemplate        *mhf_template_parse         (const char      *text,
                                                GError         **error);
char               *mhf_template_render        (MhfTemplate     *self,
                                                GHashTable      *values,
                                                MhfTemplateMode  mode);
GHashTable         *mhf_template_sample_values (void);
gboolean            mhf_template_uses          (MhfTemplate     *self,
                                                const char      *variable);
void                mhf_template_free          (MhfTemplate     *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MhfTemplate, mhf_template_free)

G_END_DECLS
