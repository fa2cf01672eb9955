#include "parley/runtime/cluster_tls.hpp"

#include "parley/runtime/cluster_errc.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <memory>

namespace parley::runtime {

namespace {

using key_ptr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using cert_ptr = std::unique_ptr<X509, decltype(&X509_free)>;

constexpr long validity_s = 10L * 365 * 24 * 3600;

key_ptr new_key() {
  return key_ptr(EVP_EC_gen("P-256"), &EVP_PKEY_free);
}

bool add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) return false;
  const bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

/// A certificate for `key` named `name`, signed by `issuer_key` (`issuer` null: self-signed).
cert_ptr make_cert(EVP_PKEY* key, const std::string& name, X509* issuer, EVP_PKEY* issuer_key,
                   bool is_ca, const std::string& alt_names = "") {
  cert_ptr cert(X509_new(), &X509_free);
  if (!cert) return cert;
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return cert_ptr(nullptr, &X509_free);
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  const bool ok_serial = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_NAME* subject = X509_get_subject_name(cert.get());
  const bool ok =
      ok_serial && X509_set_version(cert.get(), 2) == 1 &&
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) &&
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), validity_s) &&
      X509_set_pubkey(cert.get(), key) == 1 &&
      X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>("Parley cluster"), -1, -1,
                                 0) == 1 &&
      X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1,
                                 0) == 1 &&
      X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : subject) == 1 &&
      add_extension(cert.get(), issuer ? issuer : cert.get(), NID_basic_constraints,
                    is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE") &&
      add_extension(
          cert.get(), issuer ? issuer : cert.get(), NID_key_usage,
          is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature,keyAgreement") &&
      (is_ca || add_extension(cert.get(), issuer, NID_ext_key_usage, "serverAuth,clientAuth")) &&
      (alt_names.empty() ||
       add_extension(cert.get(), issuer, NID_subject_alt_name, alt_names.c_str())) &&
      X509_sign(cert.get(), issuer_key, EVP_sha256()) > 0;
  return ok ? std::move(cert) : cert_ptr(nullptr, &X509_free);
}

error write_key(const std::string& path, EVP_PKEY* key) {
  std::error_code ignored;  // replaced below; a missing file is fine
  std::filesystem::remove(path, ignored);
  const mode_t old = ::umask(077);  // the key is created 0600
  FILE* f = std::fopen(path.c_str(), "wx");
  ::umask(old);
  if (!f) return {cluster_errc::certificate, "cannot create " + path};
  const bool ok = PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  if (std::fclose(f) != 0 || !ok) return {cluster_errc::certificate, "cannot write " + path};
  return {};
}

error write_cert(const std::string& path, X509* cert) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return {cluster_errc::certificate, "cannot create " + path};
  const bool ok = PEM_write_X509(f, cert) == 1;
  if (std::fclose(f) != 0 || !ok) return {cluster_errc::certificate, "cannot write " + path};
  return {};
}

key_ptr read_key(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return key_ptr(nullptr, &EVP_PKEY_free);
  key_ptr key(PEM_read_PrivateKey(f, nullptr, nullptr, nullptr), &EVP_PKEY_free);
  std::fclose(f);
  return key;
}

cert_ptr read_cert(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return cert_ptr(nullptr, &X509_free);
  cert_ptr cert(PEM_read_X509(f, nullptr, nullptr, nullptr), &X509_free);
  std::fclose(f);
  return cert;
}

}  // namespace

error ensure_cluster_ca(const std::string& dir) {
  const std::string cert_path = dir + "/ca.pem", key_path = dir + "/ca-key.pem";
  std::error_code ec;
  if (std::filesystem::exists(cert_path, ec) && std::filesystem::exists(key_path, ec)) return {};
  std::filesystem::create_directories(dir, ec);
  if (ec) return {cluster_errc::certificate, "cannot create " + dir + ": " + ec.message()};
  auto key = new_key();
  if (!key) return {cluster_errc::certificate, "cannot generate the cluster CA key"};
  auto cert = make_cert(key.get(), "Parley cluster CA", nullptr, key.get(), true);
  if (!cert) return {cluster_errc::certificate, "cannot make the cluster CA certificate"};
  if (auto e = write_key(key_path, key.get())) return e;
  return write_cert(cert_path, cert.get());
}

result<tls_identity> issue_node_identity(const std::string& dir, const std::string& name,
                                         const std::string& alt_names) {
  tls_identity id{dir + "/ca.pem", dir + "/" + name + ".pem", dir + "/" + name + "-key.pem"};
  auto ca_key = read_key(dir + "/ca-key.pem");
  auto ca_cert = read_cert(id.ca_file);
  if (!ca_key || !ca_cert) {
    return {cluster_errc::certificate,
            "no readable cluster CA in " + dir + " (ca.pem, ca-key.pem)"};
  }
  auto key = new_key();
  if (!key) return {cluster_errc::certificate, "cannot generate a node key"};
  auto cert = make_cert(key.get(), name, ca_cert.get(), ca_key.get(), false, alt_names);
  if (!cert) return {cluster_errc::certificate, "cannot make the certificate of " + name};
  if (auto e = write_key(id.key_file, key.get())) return e;
  if (auto e = write_cert(id.cert_file, cert.get())) return e;
  return id;
}

}  // namespace parley::runtime
