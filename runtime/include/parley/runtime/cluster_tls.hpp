#pragma once
// Authentication between the nodes of a cluster: mutual TLS on the cluster port.
//
// Whoever can open a connection to a node's cluster port could otherwise send any message to
// any of its actors (CAF's BASP addresses local actors by small sequential ids), so a check
// in the node gate would not be enough: the transport itself must refuse strangers. The
// cluster link (cluster_link.hpp) runs mutual TLS in front of CAF: each node presents a
// certificate and key signed by one cluster CA and requires the peer's to chain to it.
//
// This file makes such a CA and node certificates (EC P-256, 10 years) for local clusters,
// tests and operators who have no PKI of their own (also for the client port's TLS, given the
// names clients reach the node by): `imctl cluster start --nodes N` and
// `imctl cluster cert` call it.

#include "parley/schema/error.hpp"

#include <string>

namespace parley::runtime {

/// The files a node presents and checks peers against. All three set, or none.
struct tls_identity {
  std::string ca_file;    ///< PEM: the cluster CA certificate peers must chain to.
  std::string cert_file;  ///< PEM: this node's certificate, signed by the CA.
  std::string key_file;   ///< PEM: this node's private key (mode 0600).
  bool configured() const { return !ca_file.empty() && !cert_file.empty() && !key_file.empty(); }
  bool partly_configured() const {
    return !ca_file.empty() || !cert_file.empty() || !key_file.empty();
  }
};

/// Creates `dir`/ca.pem and `dir`/ca-key.pem unless they exist (cluster.certificate if not).
error ensure_cluster_ca(const std::string& dir);

/// Issues `dir`/<name>.pem and `dir`/<name>-key.pem signed by the CA in `dir` (which must
/// exist), replacing older ones. `alt_names`, in OpenSSL's subjectAltName syntax
/// ("DNS:chat.example.com,IP:127.0.0.1"), names the hosts a client-port certificate serves
/// (clients check it); the cluster port does not need any. Fails with cluster.certificate.
result<tls_identity> issue_node_identity(const std::string& dir, const std::string& name,
                                         const std::string& alt_names = "");

}  // namespace parley::runtime
