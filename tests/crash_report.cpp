// Linked into every test executable: a test that crashes prints where, instead of Boost.Test's
// one line "memory access violation at address ..." with no stack (a rare crash in a cluster
// test seen once in a clean-clone CI run could not be traced from that line alone).
//
// Boost.Test would replace these handlers with its own, so parley_add_test runs the tests with
// --catch_system_errors=no. The handler writes the frames (names for exported symbols: the
// tests link with ENABLE_EXPORTS; otherwise module+offset, for addr2line), then lets the signal
// end the process as it would have: the test fails and a core is dumped where enabled.

#include <execinfo.h>
#include <unistd.h>
#include <csignal>
#include <cstring>
#include <initializer_list>

namespace {

void write_text(const char* text) {
  const ssize_t ignored = ::write(STDERR_FILENO, text, std::strlen(text));
  (void)ignored;
}

void on_fatal_signal(int sig) {
  write_text("\n*** fatal signal: ");
  write_text(strsignal(sig));
  write_text("; stack of the thread that received it:\n");
  void* frames[64];
  const int n = ::backtrace(frames, 64);
  ::backtrace_symbols_fd(frames, n, STDERR_FILENO);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

struct crash_report {
  crash_report() {
    void* warm[1];
    ::backtrace(warm, 1);  // loads libgcc now, not inside the signal handler
    struct sigaction sa {};
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) ::sigaction(sig, &sa, nullptr);
  }
};

const crash_report installed;

}  // namespace
