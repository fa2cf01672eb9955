// runtime/etcd: whatever answers on etcd's port (a proxy, another service, a broken etcd), the
// client returns errors, never throws: a throw would end the cluster member's thread.
#include <boost/test/unit_test.hpp>

#include "parley/runtime/etcd.hpp"

#include <httplib.h>

#include <mutex>
#include <string>
#include <thread>

using namespace parley::runtime;

namespace {

/// An HTTP server on loopback that answers every POST with the body it is given.
class fake_etcd {
 public:
  fake_etcd() {
    server_.Post(".*", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard<std::mutex> guard(mu_);
      res.set_content(answer_, "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~fake_etcd() {
    server_.stop();
    thread_.join();
  }
  void answer(std::string body) {
    std::lock_guard<std::mutex> guard(mu_);
    answer_ = std::move(body);
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::string answer_;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(etcd_answers)

BOOST_AUTO_TEST_CASE(answers_of_the_wrong_shape_are_errors_not_exceptions) {
  fake_etcd etcd;
  etcd_client client(etcd.endpoint(), std::chrono::milliseconds(2000));
  for (const char* garbage : {"", "not json", "[1,2]", "42", "{\"ID\":\"abc\"}",
                              "{\"ID\":\"99999999999999999999999\"}", "{\"ID\":[1]}"}) {
    etcd.answer(garbage);
    BOOST_TEST(!client.grant_lease(std::chrono::seconds(3)), garbage);
  }
  for (const char* garbage : {"{\"kvs\":5}", "{\"kvs\":[7]}", "{\"kvs\":[{\"key\":7}]}",
                              "{\"kvs\":[{\"mod_revision\":\"x\"}]}"}) {
    etcd.answer(garbage);
    BOOST_TEST(!client.get("k"), garbage);
    BOOST_TEST(!client.get_prefix("k"), garbage);
  }
  etcd.answer("{\"succeeded\":\"yes\"}");
  BOOST_TEST(!client.put_if("k", "v", 0));
  etcd.answer("{\"result\":{\"TTL\":{}}}");
  BOOST_TEST(!client.keep_alive(1));
}

BOOST_AUTO_TEST_CASE(answers_of_the_right_shape_are_read) {
  fake_etcd etcd;
  etcd_client client(etcd.endpoint(), std::chrono::milliseconds(2000));
  etcd.answer("{\"ID\":\"42\",\"TTL\":\"3\"}");
  auto lease = client.grant_lease(std::chrono::seconds(3));
  BOOST_TEST_REQUIRE(static_cast<bool>(lease));
  BOOST_TEST(*lease == 42);
  etcd.answer("{\"kvs\":[{\"key\":\"aw==\",\"value\":\"dg==\",\"mod_revision\":\"7\"}]}");
  auto kv = client.get("k");
  BOOST_TEST_REQUIRE(static_cast<bool>(kv));
  BOOST_TEST_REQUIRE(kv->has_value());
  BOOST_TEST((*kv)->key == "k");
  BOOST_TEST((*kv)->value == "v");
  BOOST_TEST((*kv)->mod_revision == 7);
  etcd.answer("{\"succeeded\":true}");
  auto swapped = client.put_if("k", "v", 7);
  BOOST_TEST_REQUIRE(static_cast<bool>(swapped));
  BOOST_TEST(*swapped);
}

BOOST_AUTO_TEST_SUITE_END()
