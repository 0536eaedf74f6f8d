// posix_spawn with every descriptor above standard error closed in the child, for the tests' child
// processes. glibc declares posix_spawn_file_actions_addclosefrom_np and _addchdir_np only for
// _GNU_SOURCE, which Swift's Glibc module does not set.
#pragma once

#include <sys/types.h>

/// Spawns `path` with `argv` and `envp` (both NULL-terminated) in `directory` (NULL: the current
/// one), its standard input, output and error on `in`, `out` and `err`, and no other descriptor
/// of this process. Returns the child's pid, or -1 with errno set.
pid_t multistatus_spawn(const char *path, char *const argv[], char *const envp[], const char *directory, int in, int out, int err);
