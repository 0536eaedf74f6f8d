#define _GNU_SOURCE
#include "CChildProcess.h"

#include <errno.h>
#include <spawn.h>

pid_t multistatus_spawn(const char *path, char *const argv[], char *const envp[], const char *directory, int in, int out, int err) {
    posix_spawn_file_actions_t actions;
    int result = posix_spawn_file_actions_init(&actions);
    if (result != 0) {
        errno = result;
        return -1;
    }
    if (result == 0) result = posix_spawn_file_actions_adddup2(&actions, in, 0);
    if (result == 0) result = posix_spawn_file_actions_adddup2(&actions, out, 1);
    if (result == 0) result = posix_spawn_file_actions_adddup2(&actions, err, 2);
    if (result == 0) result = posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    if (result == 0 && directory != NULL) result = posix_spawn_file_actions_addchdir_np(&actions, directory);
    pid_t pid = -1;
    if (result == 0) result = posix_spawn(&pid, path, &actions, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    if (result != 0) {
        errno = result;
        return -1;
    }
    return pid;
}
