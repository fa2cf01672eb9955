// The TypeScript app server (examples/typescript) against a real node: the tokens it issues log
// clients in, and its before-send hook judges what they send. Runs it with Node as a child
// process, reading what it prints; closing its standard input tells it to clear the hook and
// exit.

#define BOOST_TEST_MODULE typescript_example
#include "../support.hpp"
#include "parley/testing/embedded_node.hpp"

#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

using namespace parley;
using parley::test_support::require_ok;

namespace {

/// A child process whose standard output and error come back here line by line.
class child_process {
 public:
  explicit child_process(const std::vector<std::string>& argv) {
    int in[2], out[2];
    BOOST_TEST_REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
    BOOST_TEST_REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    pid_ = ::fork();
    BOOST_TEST_REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::dup2(out[1], 2);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
  }

  ~child_process() {
    close_stdin();
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (stdout_ >= 0) ::close(stdout_);
  }

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// The next line it printed (without the newline), or nullopt at its end or after 30 s.
  std::optional<std::string> next_line() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
      if (auto nl = buffered_.find('\n'); nl != std::string::npos) {
        std::string line = buffered_.substr(0, nl);
        buffered_.erase(0, nl + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{stdout_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
      char buf[4096];
      const auto n = ::read(stdout_, buf, sizeof buf);
      if (n <= 0) return std::nullopt;
      buffered_.append(buf, static_cast<std::size_t>(n));
    }
  }

  /// Lines up to and including the first that starts with `prefix` (the test stops if none).
  std::vector<std::string> lines_until(const std::string& prefix) {
    std::vector<std::string> lines;
    while (auto line = next_line()) {
      lines.push_back(*line);
      if (line->rfind(prefix, 0) == 0) return lines;
    }
    BOOST_TEST_REQUIRE(false, "no line starting with \"" << prefix << "\"; got: " << joined(lines));
    return lines;
  }

  void close_stdin() {
    if (stdin_ >= 0) ::close(stdin_);
    stdin_ = -1;
  }

  /// Its exit code (-1 if it did not exit normally).
  int wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  static std::string joined(const std::vector<std::string>& lines) {
    std::string all;
    for (auto& l : lines) all += l + " | ";
    return all;
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  std::string buffered_;
};

server::node_options with_app_port() {
  server::node_options o;
  o.app_enabled = true;
  return o;
}

/// The example's command line, or a failed test that says what to install.
std::vector<std::string> example(testing::embedded_node& node, const std::string& secret,
                                 std::vector<std::string> more = {}) {
  const std::string node_js = PARLEY_NODE_JS, script = PARLEY_TS_EXAMPLE;
  BOOST_TEST_REQUIRE(!node_js.empty(),
                     "Node.js was not found when the build was configured "
                     "(scripts/install-deps.sh installs it)");
  BOOST_TEST_REQUIRE(std::ifstream(script).good(),
                     script << " is not built (examples/typescript/build.sh)");
  std::vector<std::string> argv{
      node_js,         script, "--app", "127.0.0.1:" + std::to_string(node.node().app_port()),
      "--secret-file", secret};
  argv.insert(argv.end(), more.begin(), more.end());
  return argv;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(typescript_example)

BOOST_AUTO_TEST_CASE(its_tokens_log_clients_in_and_its_hook_judges_their_sends) {
  testing::embedded_node node(with_app_port());
  child_process app(
      example(node, node.data_dir() + "/secret", {"--user", "ts-alice", "--user", "ts-bob"}));
  std::map<std::string, std::string> tokens;
  const auto lines = app.lines_until("ready");
  for (auto& line : lines) {
    if (line.rfind("token ", 0) != 0) continue;
    const auto space = line.find(' ', 6);
    tokens[line.substr(6, space - 6)] = line.substr(space + 1);
  }
  BOOST_TEST_REQUIRE(tokens.size() == 2u, child_process::joined(lines));
  BOOST_TEST(lines[lines.size() - 2] == "hook installed on 1 node(s)");

  auto alice = node.connect();
  require_ok(alice->login(tokens["ts-alice"], "phone"));
  auto bob = node.connect();
  require_ok(bob->login(tokens["ts-bob"], "laptop"));
  const auto refused = alice->send_to_user("ts-bob", "m1", "cheap spam here");
  BOOST_TEST((refused.code == wire::ErrorCode::REJECTED));
  BOOST_TEST(refused.error == "please do not say \"spam\"");
  BOOST_TEST(app.next_line().value_or("(nothing)") == "rejected ts-alice: spam");
  const auto sent = alice->send_to_user("ts-bob", "m2", "hello bob");
  require_ok(sent);
  BOOST_TEST(sent.seq == 1u);
  auto got = testing::next_message(*bob);
  BOOST_TEST_REQUIRE(got.has_value());
  BOOST_TEST(got->body == "hello bob");

  // Its input closes: it clears the hook and exits cleanly; nothing is judged any more.
  app.close_stdin();
  BOOST_TEST(app.next_line().value_or("(nothing)") == "hook cleared");
  BOOST_TEST(app.wait() == 0);
  const auto after = alice->send_to_user("ts-bob", "m3", "spam, unjudged now");
  require_ok(after);
  BOOST_TEST(after.seq == 2u);
}

BOOST_AUTO_TEST_CASE(a_wrong_secret_is_reported_and_it_exits_with_1) {
  testing::embedded_node node(with_app_port());
  const std::string wrong = node.data_dir() + "/not-the-secret";
  std::ofstream(wrong) << std::string(32, 'x');
  child_process app(example(node, wrong, {"--user", "ts-alice"}));
  BOOST_TEST(app.next_line().value_or("(nothing)") == "error: not_authenticated: wrong secret");
  BOOST_TEST(app.wait() == 1);
}

BOOST_AUTO_TEST_SUITE_END()
