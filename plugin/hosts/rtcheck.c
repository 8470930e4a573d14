/* LD_PRELOAD counter of what must not happen on an audio thread: allocation and freeing, lock
 * and semaphore waits, sleeping, file I/O (open, read, write). Counts only between vs_rtcheck_begin() and
 * vs_rtcheck_end() on the calling thread (the test hosts call them around each process()).
 * vs_rtcheck_report(stream) prints `rtcheck {"malloc": N, ...}`. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void __libc_free(void*);
extern void* __libc_memalign(size_t, size_t);

enum { C_MALLOC, C_FREE, C_MUTEX, C_COND, C_SEM_WAIT, C_SLEEP, C_WRITE, C_OPEN, C_READ, C_COUNT };
static const char* NAMES[C_COUNT] = {"malloc", "free", "mutex_lock", "cond_wait", "sem_wait", "sleep",
                                     "write", "open", "read"};
static long counts[C_COUNT];
static long blocks;
static __thread int inside __attribute__((tls_model("initial-exec")));

__attribute__((visibility("default"))) void vs_rtcheck_begin(void) { inside = 1; ++blocks; }
__attribute__((visibility("default"))) void vs_rtcheck_end(void) { inside = 0; }
__attribute__((visibility("default"))) void vs_rtcheck_report(FILE* f) {
    fprintf(f, "rtcheck {\"blocks\": %ld", blocks);
    for (int i = 0; i < C_COUNT; ++i) fprintf(f, ", \"%s\": %ld", NAMES[i], counts[i]);
    fprintf(f, "}\n");
    fflush(f);
}

#define COUNT(kind) do { if (inside) __atomic_add_fetch(&counts[kind], 1, __ATOMIC_RELAXED); } while (0)
#define NEXT(name) static __typeof__(&name) real_##name; \
    if (!real_##name) real_##name = (__typeof__(&name))dlsym(RTLD_NEXT, #name)

void* malloc(size_t n) { COUNT(C_MALLOC); return __libc_malloc(n); }
void* calloc(size_t a, size_t b) { COUNT(C_MALLOC); return __libc_calloc(a, b); }
void* realloc(void* p, size_t n) { COUNT(C_MALLOC); return __libc_realloc(p, n); }
void free(void* p) { if (p) COUNT(C_FREE); __libc_free(p); }
void* memalign(size_t a, size_t n) { COUNT(C_MALLOC); return __libc_memalign(a, n); }
void* aligned_alloc(size_t a, size_t n) { COUNT(C_MALLOC); return __libc_memalign(a, n); }
int posix_memalign(void** out, size_t a, size_t n) {
    COUNT(C_MALLOC);
    *out = __libc_memalign(a, n);
    return *out ? 0 : 12;
}

int pthread_mutex_lock(pthread_mutex_t* m) {
    NEXT(pthread_mutex_lock);
    COUNT(C_MUTEX);
    return real_pthread_mutex_lock(m);
}
int pthread_mutex_trylock(pthread_mutex_t* m) {
    NEXT(pthread_mutex_trylock);
    COUNT(C_MUTEX);
    return real_pthread_mutex_trylock(m);
}
int pthread_rwlock_rdlock(pthread_rwlock_t* l) {
    NEXT(pthread_rwlock_rdlock);
    COUNT(C_MUTEX);
    return real_pthread_rwlock_rdlock(l);
}
int pthread_rwlock_wrlock(pthread_rwlock_t* l) {
    NEXT(pthread_rwlock_wrlock);
    COUNT(C_MUTEX);
    return real_pthread_rwlock_wrlock(l);
}
int pthread_cond_wait(pthread_cond_t* c, pthread_mutex_t* m) {
    NEXT(pthread_cond_wait);
    COUNT(C_COND);
    return real_pthread_cond_wait(c, m);
}
int pthread_cond_timedwait(pthread_cond_t* c, pthread_mutex_t* m, const struct timespec* t) {
    NEXT(pthread_cond_timedwait);
    COUNT(C_COND);
    return real_pthread_cond_timedwait(c, m, t);
}
int sem_wait(sem_t* s) {
    NEXT(sem_wait);
    COUNT(C_SEM_WAIT);
    return real_sem_wait(s);
}
int sem_timedwait(sem_t* s, const struct timespec* t) {
    NEXT(sem_timedwait);
    COUNT(C_SEM_WAIT);
    return real_sem_timedwait(s, t);
}
int clock_nanosleep(clockid_t c, int flags, const struct timespec* a, struct timespec* b) {
    NEXT(clock_nanosleep);
    COUNT(C_SLEEP);
    return real_clock_nanosleep(c, flags, a, b);
}
int nanosleep(const struct timespec* a, struct timespec* b) {
    NEXT(nanosleep);
    COUNT(C_SLEEP);
    return real_nanosleep(a, b);
}
int usleep(useconds_t u) {
    NEXT(usleep);
    COUNT(C_SLEEP);
    return real_usleep(u);
}
ssize_t write(int fd, const void* p, size_t n) {
    NEXT(write);
    COUNT(C_WRITE);
    return real_write(fd, p, n);
}
FILE* fopen(const char* path, const char* mode) {
    NEXT(fopen);
    COUNT(C_OPEN);
    return real_fopen(path, mode);
}
ssize_t read(int fd, void* p, size_t n) {
    NEXT(read);
    COUNT(C_READ);
    return real_read(fd, p, n);
}
/* Every way to open a file counts: programs built with 64-bit file offsets (std::ifstream,
 * CPython) use the *64 names, and newer glibc code openat. The mode argument is there only with
 * O_CREAT or O_TMPFILE. */
FILE* fopen64(const char* path, const char* mode) {
    NEXT(fopen64);
    COUNT(C_OPEN);
    return real_fopen64(path, mode);
}
#define OPEN_HOOK(name, params, args)                                              \
    int name params {                                                              \
        NEXT(name);                                                                \
        COUNT(C_OPEN);                                                             \
        va_list ap;                                                                \
        va_start(ap, flags);                                                       \
        int mode = (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, int) : 0;          \
        va_end(ap);                                                                \
        return real_##name args;                                                   \
    }
OPEN_HOOK(open, (const char* path, int flags, ...), (path, flags, mode))
OPEN_HOOK(open64, (const char* path, int flags, ...), (path, flags, mode))
OPEN_HOOK(openat, (int dir, const char* path, int flags, ...), (dir, path, flags, mode))
OPEN_HOOK(openat64, (int dir, const char* path, int flags, ...), (dir, path, flags, mode))
