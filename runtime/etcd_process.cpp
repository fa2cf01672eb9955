#include "parley/runtime/etcd_process.hpp"

#include "parley/runtime/etcd.hpp"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <thread>
#include <vector>

namespace parley::runtime {

result<std::unique_ptr<etcd_process>> etcd_process::start(const etcd_process_options& o) {
  const bool tls = o.tls.configured();
  const std::string endpoint =
      (tls ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(o.client_port);
  const std::string peer = "http://127.0.0.1:" + std::to_string(o.peer_port);
  std::vector<std::string> args = {"etcd",
                                   "--name",
                                   "parley",
                                   "--data-dir",
                                   o.data_dir,
                                   "--listen-client-urls",
                                   endpoint,
                                   "--advertise-client-urls",
                                   endpoint,
                                   "--listen-peer-urls",
                                   peer,
                                   "--initial-advertise-peer-urls",
                                   peer,
                                   "--initial-cluster",
                                   "parley=" + peer};
  if (tls) {
    args.insert(args.end(), {"--cert-file", o.tls.cert_file, "--key-file", o.tls.key_file,
                             "--trusted-ca-file", o.tls.ca_file, "--client-cert-auth"});
  }
  std::fflush(nullptr);  // or the child flushes our buffered output a second time
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return {cluster_errc::etcd_not_started, "cannot fork to start etcd"};
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) _exit(1);  // the parent died before the line above
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, nullptr);  // the caller may block stop signals
    if (!o.log_file.empty()) {
      FILE* out = std::freopen(o.log_file.c_str(), "w", stdout);
      FILE* err = std::freopen(o.log_file.c_str(), "a", stderr);
      (void)out;
      (void)err;
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp("etcd", argv.data());
    _exit(127);
  }
  std::unique_ptr<etcd_process> process(new etcd_process(pid, endpoint));
  // With TLS the probe presents etcd's own certificate (it is good for client auth too).
  etcd_client probe(endpoint, std::chrono::milliseconds(300), o.tls);
  const auto deadline = std::chrono::steady_clock::now() + o.start_timeout;
  while (!probe.get("/probe")) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      process->pid_ = -1;
      return {cluster_errc::etcd_not_started,
              "etcd exited at start (is Debian's etcd-server installed? see " + o.log_file + ")"};
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return {cluster_errc::etcd_not_started,  // the handle's destructor stops it
              "etcd did not answer within " + std::to_string(o.start_timeout.count()) +
                  " ms (see " + o.log_file + ")"};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling another process
  }
  return process;
}

etcd_process::~etcd_process() {
  stop(SIGTERM);
}

void etcd_process::kill() {
  stop(SIGKILL);
}

void etcd_process::stop(int signal) {
  if (pid_ <= 0) return;
  ::kill(pid_, signal);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

}  // namespace parley::runtime
