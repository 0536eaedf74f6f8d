// Linux system calls that glibc declares only for _GNU_SOURCE (which Swift's Glibc module does not
// set) or not at all. Each returns what the call returns, with errno set; -1 and ENOSYS where the
// system lacks it.
#pragma once

#include <stdint.h>
#include <sys/types.h>

/// openat2(2): opens `path` relative to `dirfd` under the `RESOLVE_*` rules in `resolve`.
int multistatus_openat2(int dirfd, const char *path, int flags, uint64_t mode, uint64_t resolve);

/// renameat2(2), with `RENAME_NOREPLACE` (1) or `RENAME_EXCHANGE` (2) in `flags`.
int multistatus_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags);

/// copy_file_range(2) from the current offsets of both descriptors.
ssize_t multistatus_copy_file_range(int in, int out, size_t length);

/// zlib's CRC-32 of `count` bytes, continuing from `crc` (0 to start): what a ZIP entry records.
uint32_t multistatus_crc32(uint32_t crc, const void *bytes, size_t count);

/// fsetxattr(2), creating or replacing the attribute.
int multistatus_fsetxattr(int fd, const char *name, const void *value, size_t size);

/// fgetxattr(2).
ssize_t multistatus_fgetxattr(int fd, const char *name, void *value, size_t size);

/// `RESOLVE_*` flags of openat2 (linux/openat2.h).
static const uint64_t multistatus_resolve_no_magiclinks = 0x02;
static const uint64_t multistatus_resolve_no_symlinks = 0x04;
static const uint64_t multistatus_resolve_beneath = 0x08;

/// `O_PATH` (declared only for _GNU_SOURCE): the same value on every architecture Swift runs on.
static const int multistatus_o_path = 010000000;

/// memmem(3): where `needle` first occurs in `haystack`, or NULL. glibc's compares two bytes at a
/// time with a shift table: twice the speed of a byte-wise Horspool loop on a multipart body.
const void *multistatus_memmem(const void *haystack, size_t haystack_length, const void *needle, size_t needle_length);
