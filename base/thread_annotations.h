// Clang's thread-safety annotations (-Wthread-safety): which mutex guards which state, checked
// at compile time by the clang pass of the test suite (tests/lint/thread_safety.sh). Empty
// macros for other compilers. Used with base/mutex.h.
#pragma once

#if defined(__clang__)
#define RECOMP_TSA(x) __attribute__((x))
#else
#define RECOMP_TSA(x)
#endif

// A type that is a lock (base::Mutex).
#define CAPABILITY(name) RECOMP_TSA(capability(name))
// An RAII type that holds a lock for its lifetime (base::MutexLock).
#define SCOPED_CAPABILITY RECOMP_TSA(scoped_lockable)
// The member may be read or written only while holding `mu`.
#define GUARDED_BY(mu) RECOMP_TSA(guarded_by(mu))
// The pointee may be used only while holding `mu`.
#define PT_GUARDED_BY(mu) RECOMP_TSA(pt_guarded_by(mu))
// The caller must hold (or must not hold) `mu`.
#define REQUIRES(...) RECOMP_TSA(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) RECOMP_TSA(locks_excluded(__VA_ARGS__))
// The function takes or releases `mu`.
#define ACQUIRE(...) RECOMP_TSA(acquire_capability(__VA_ARGS__))
#define RELEASE(...) RECOMP_TSA(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) RECOMP_TSA(try_acquire_capability(__VA_ARGS__))
// Opts a function out of the analysis (say why next to it).
#define NO_THREAD_SAFETY_ANALYSIS RECOMP_TSA(no_thread_safety_analysis)
