#pragma once
// An etcd server (Debian's etcd-server) as a child process on loopback, for local clusters
// (`imctl cluster start --nodes N`) and tests: the one place that launches etcd. The child is
// killed if the process that started it dies (PR_SET_PDEATHSIG), so a crashed imctl or test
// never leaves an etcd behind; destroying the handle stops it (SIGTERM) and waits.

#include "parley/runtime/cluster_tls.hpp"

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace parley::runtime {

struct etcd_process_options {
  std::string data_dir;  ///< etcd's data directory.
  std::string log_file;  ///< etcd's stdout and stderr.
  std::uint16_t client_port = 0;
  std::uint16_t peer_port = 0;
  /// Configured: serve https with cert_file / key_file and accept only clients with a
  /// certificate of ca_file (--client-cert-auth).
  tls_identity tls;
  /// How long to wait for etcd to answer.
  std::chrono::milliseconds start_timeout{10000};
};

class etcd_process {
 public:
  /// Starts etcd and waits until it answers. On failure nothing is left running.
  static result<std::unique_ptr<etcd_process>> start(const etcd_process_options& o);
  ~etcd_process();
  etcd_process(const etcd_process&) = delete;
  etcd_process& operator=(const etcd_process&) = delete;

  /// "http://127.0.0.1:<client port>" ("https://" with TLS).
  const std::string& endpoint() const { return endpoint_; }
  /// SIGKILL now, and wait (fault injection: every lease then lapses).
  void kill();

 private:
  etcd_process(pid_t pid, std::string endpoint) : pid_(pid), endpoint_(std::move(endpoint)) {}
  void stop(int signal);

  pid_t pid_;
  std::string endpoint_;
};

}  // namespace parley::runtime
