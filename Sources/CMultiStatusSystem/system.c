#define _GNU_SOURCE
#include "CMultiStatusSystem.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

uint32_t multistatus_crc32(uint32_t crc, const void *bytes, size_t count) {
    // zlib takes a length of 32 bits: feed it in parts.
    const unsigned char *next = bytes;
    while (count > 0) {
        unsigned int part = count > (1u << 30) ? (1u << 30) : (unsigned int)count;
        crc = (uint32_t)crc32(crc, next, part);
        next += part;
        count -= part;
    }
    return crc;
}

#ifdef __linux__
#include <sys/syscall.h>
#include <sys/xattr.h>

#ifndef SYS_openat2
#define SYS_openat2 437  // the same number on every architecture
#endif

// struct open_how, as the kernel defines it; declared here so that old headers do not matter.
struct multistatus_open_how {
    uint64_t flags;
    uint64_t mode;
    uint64_t resolve;
};

int multistatus_openat2(int dirfd, const char *path, int flags, uint64_t mode, uint64_t resolve) {
    struct multistatus_open_how how = {.flags = (uint64_t)(unsigned int)flags, .mode = mode, .resolve = resolve};
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

int multistatus_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags) {
    return renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
}

ssize_t multistatus_copy_file_range(int in, int out, size_t length) {
    return copy_file_range(in, NULL, out, NULL, length, 0);
}

int multistatus_fsetxattr(int fd, const char *name, const void *value, size_t size) {
    return fsetxattr(fd, name, value, size, 0);
}

ssize_t multistatus_fgetxattr(int fd, const char *name, void *value, size_t size) {
    return fgetxattr(fd, name, value, size);
}

#else

int multistatus_openat2(int dirfd, const char *path, int flags, uint64_t mode, uint64_t resolve) {
    errno = ENOSYS;
    return -1;
}

int multistatus_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags) {
    errno = ENOSYS;
    return -1;
}

ssize_t multistatus_copy_file_range(int in, int out, size_t length) {
    errno = ENOSYS;
    return -1;
}

int multistatus_fsetxattr(int fd, const char *name, const void *value, size_t size) {
    errno = ENOSYS;
    return -1;
}

ssize_t multistatus_fgetxattr(int fd, const char *name, void *value, size_t size) {
    errno = ENOSYS;
    return -1;
}

#endif

const void *multistatus_memmem(const void *haystack, size_t haystack_length, const void *needle, size_t needle_length) {
    return memmem(haystack, haystack_length, needle, needle_length);
}
