#include "http_port.hpp"

#include "parley/server/errc.hpp"

#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace parley::server {

namespace {

constexpr std::size_t workers = 2;
constexpr std::size_t max_waiting = 16;
constexpr std::size_t max_request_body = 1024;
constexpr time_t io_timeout_s = 5;

/// cpp-httplib's task queue with a bound: a task that does not fit runs on the caller, the
/// listener thread, which then accepts nothing until it is done.
class bounded_pool final : public httplib::TaskQueue {
 public:
  bounded_pool() {
    for (std::size_t i = 0; i < workers; ++i) threads_.emplace_back([this] { work(); });
  }
  ~bounded_pool() override = default;

  void enqueue(std::function<void()> task) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!stopping_ && waiting_.size() < max_waiting) {
        waiting_.push_back(std::move(task));
        cv_.notify_one();
        return;
      }
    }
    task();
  }

  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  void work() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stopping_ || !waiting_.empty(); });
        if (waiting_.empty()) return;  // stopping, and nothing left
        task = std::move(waiting_.front());
        waiting_.pop_front();
      }
      task();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> waiting_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

/// The web pages, read into memory: path ("/chat.js") -> content and type.
struct web_file {
  std::string body;
  const char* type;
};
using web_files = std::map<std::string, web_file>;

const char* content_type(const std::filesystem::path& p) {
  const auto ext = p.extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  return "application/octet-stream";
}

/// Reads every regular file under `root` (symbolic links followed: the build links the npm
/// runtime in). Fails with node.bad_config if the root is missing or holds too much.
result<web_files> load_web_files(const std::string& root) {
  constexpr std::size_t max_files = 256;
  constexpr std::size_t max_bytes = 16u << 20;
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return error(node_errc::bad_config, "the web root " + root + " is not a directory");
  }
  web_files files;
  std::size_t bytes = 0;
  for (auto it = fs::recursive_directory_iterator(
           root, fs::directory_options::follow_directory_symlink, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    std::ifstream in(it->path(), std::ios::binary);
    std::ostringstream body;
    body << in.rdbuf();
    bytes += body.str().size();
    if (files.size() >= max_files || bytes > max_bytes) {
      return error(node_errc::bad_config, "the web root " + root + " holds more than " +
                                              std::to_string(max_files) + " files or 16 MiB");
    }
    const auto rel = fs::relative(it->path(), root, ec).generic_string();
    files["/" + rel] = web_file{body.str(), content_type(it->path())};
  }
  if (ec) return error(node_errc::bad_config, "cannot read the web root " + root);
  return files;
}

}  // namespace

struct http_port::impl {
  httplib::Server server;
  std::thread listener;
  std::atomic<bool> listened{false};  // listen_after_bind returned
  std::uint16_t port = 0;
};

result<std::unique_ptr<http_port>> http_port::start(const http_port_options& o, handlers h) {
  web_files pages;
  if (!o.web_root.empty()) {
    auto loaded = load_web_files(o.web_root);
    if (!loaded) return loaded.error();
    pages = std::move(loaded.value());
  }
  auto p = std::make_unique<impl>();
  auto& s = p->server;
  s.new_task_queue = [] { return new bounded_pool(); };
  s.set_payload_max_length(max_request_body);
  s.set_read_timeout(io_timeout_s, 0);
  s.set_write_timeout(io_timeout_s, 0);
  // One request per connection: a kept-alive browser connection would hold one of the two
  // workers until its read timeout while the page's other requests wait (seen: 5 s per load).
  s.set_keep_alive_max_count(1);
  s.Get("/metrics", [metrics = h.metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics(), "text/plain; version=0.0.4; charset=utf-8");
  });
  s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  s.Get("/readyz", [ready = h.ready](const httplib::Request&, httplib::Response& res) {
    const bool ok = ready();
    res.status = ok ? 200 : 503;
    res.set_content(ok ? "ready\n" : "not serving\n", "text/plain");
  });
  if (h.admin) {
    auto serve = [admin = h.admin](const httplib::Request& req, httplib::Response& res) {
      api_request call;
      call.method = req.method;
      call.path = req.path.substr(std::string_view("/admin/api").size());
      for (const auto& [k, v] : req.params) call.params.emplace(k, v);
      call.authorization = req.get_header_value("Authorization");
      call.peer = req.remote_addr + ":" + std::to_string(req.remote_port);
      const auto answer = admin(call);
      res.status = answer.status;
      res.set_header("Cache-Control", "no-store");
      res.set_content(answer.body, "application/json");
    };
    s.Get(R"(/admin/api/.*)", serve);
    s.Post(R"(/admin/api/.*)", serve);
  }
  if (!pages.empty()) {
    s.Get("/config.json", [config = h.web_config](const httplib::Request&, httplib::Response& res) {
      res.set_content(config ? config() : "{}", "application/json");
    });
    auto shared = std::make_shared<const web_files>(std::move(pages));
    s.Get(R"(/.*)", [shared](const httplib::Request& req, httplib::Response& res) {
      const auto found = shared->find(req.path == "/" ? "/index.html" : req.path);
      if (found == shared->end()) {
        res.status = 404;
        res.set_content("not found\n", "text/plain");
        return;
      }
      res.set_header("Cache-Control", "no-cache");
      res.set_content(found->second.body, found->second.type);
    });
  }
  const int bound =
      o.port == 0 ? s.bind_to_any_port(o.host) : (s.bind_to_port(o.host, o.port) ? o.port : -1);
  if (bound <= 0) {
    return error(node_errc::cannot_listen,
                 "cannot listen on " + o.host + ":" + std::to_string(o.port) + " (HTTP port)");
  }
  p->port = static_cast<std::uint16_t>(bound);
  p->listener = std::thread([raw = p.get()] {
    raw->server.listen_after_bind();
    raw->listened = true;
  });
  return std::unique_ptr<http_port>(new http_port(std::move(p)));
}

http_port::http_port(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

http_port::~http_port() {
  // stop() does nothing until the listener has started listening: repeat it until it ends.
  while (!impl_->listened) {
    impl_->server.stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  impl_->listener.join();
}

std::uint16_t http_port::port() const {
  return impl_->port;
}

}  // namespace parley::server
