/* LD_PRELOAD shim for the disk fault tests: fsync and fdatasync fail with EIO while the file named
   by SEQD_FAIL_FSYNC_WHILE exists (a disk that refuses to make writes durable). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static int failing(void) {
  const char *flag = getenv("SEQD_FAIL_FSYNC_WHILE");
  return flag != NULL && access(flag, F_OK) == 0;
}

int fsync(int fd) {
  static int (*real)(int) = NULL;
  if (failing()) { errno = EIO; return -1; }
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  return real(fd);
}

int fdatasync(int fd) {
  static int (*real)(int) = NULL;
  if (failing()) { errno = EIO; return -1; }
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  return real(fd);
}
