/* datadir.h — locating virtlab's data independently of the current
 * directory (machine/datadir.c). Order for each: its environment variable;
 * the source tree the executable was built in; the installed prefix
 * (PREFIX/bin/virtlab -> PREFIX/share/virtlab/). `make install` lays out
 * bin/, share/virtlab/{guest.elf,profiles/}, share/man/man1/,
 * share/bash-completion/completions/.
 */
#ifndef VIRTLAB_DATADIR_H
#define VIRTLAB_DATADIR_H

#include <stddef.h>

#define VL_SHARE_DIR  "share/virtlab"
#define VL_TREE_GUEST "build/guest/guest.elf"

/* Walk up from the executable's directory (at most 6 levels) to the first
 * directory holding `rel`; its full path into out. 0 or -1. */
int vl_data_find(const char *rel, char *out, size_t n);

/* The guest image: $VIRTLAB_GUEST, else the source tree's
 * build/guest/guest.elf, else PREFIX/share/virtlab/guest.elf; when none
 * exists, "build/guest/guest.elf" (for the message). */
const char *vl_data_guest(void);

/* The default results database: $VIRTLAB_DB, else the source tree's
 * results/virtlab.db, else $XDG_DATA_HOME/virtlab/virtlab.db (default
 * ~/.local/share/virtlab/virtlab.db) for an installed virtlab. */
const char *vl_data_db(void);

#endif
