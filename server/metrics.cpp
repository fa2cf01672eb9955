#include "metrics.hpp"

#include <cstdint>
#include <initializer_list>
#include <sstream>
#include <utility>

namespace parley::server {

namespace {

/// Writes metrics with their HELP and TYPE lines.
class exposition {
 public:
  void counter(const char* name, const char* help, std::uint64_t value) {
    write(name, help, "counter", value);
  }
  void gauge(const char* name, const char* help, std::uint64_t value) {
    write(name, help, "gauge", value);
  }
  /// A metric with one label, its HELP and TYPE written once before the first sample.
  void labelled(const char* name, const char* help, const char* type,
                std::initializer_list<std::pair<const char*, std::uint64_t>> samples,
                const char* label) {
    labelled_values(name, help, type, label, [&](auto sample) {
      for (auto& [value_of_label, value] : samples) sample(value_of_label, value);
    });
  }
  /// As labelled(), with samples given by `each(sample)` calling sample(label value, value).
  template <class Each>
  void labelled_values(const char* name, const char* help, const char* type, const char* label,
                       Each each) {
    out_ << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
    each([&](const char* value_of_label, std::uint64_t value) {
      out_ << name << "{" << label << "=\"" << value_of_label << "\"} " << value << "\n";
    });
  }
  void info(const char* name, const char* help, const std::string& label,
            const std::string& value) {
    out_ << "# HELP " << name << " " << help << "\n# TYPE " << name << " gauge\n"
         << name << "{" << label << "=\"" << escaped(value) << "\"} 1\n";
  }
  /// A histogram; `scale` divides the bounds and the sum (1e6: µs observed, seconds shown).
  template <class Snapshot>
  void histogram(const char* name, const char* help, const Snapshot& s, double scale) {
    out_ << "# HELP " << name << " " << help << "\n# TYPE " << name << " histogram\n";
    for (std::size_t i = 0; i < s.bounds.size(); ++i) {
      out_ << name << "_bucket{le=\"" << static_cast<double>(s.bounds[i]) / scale << "\"} "
           << s.cumulative[i] << "\n";
    }
    out_ << name << "_bucket{le=\"+Inf\"} " << s.cumulative.back() << "\n"
         << name << "_sum " << static_cast<double>(s.sum) / scale << "\n"
         << name << "_count " << s.cumulative.back() << "\n";
  }
  std::string text() const { return out_.str(); }

 private:
  void write(const char* name, const char* help, const char* type, std::uint64_t value) {
    out_ << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n"
         << name << " " << value << "\n";
  }
  static std::string escaped(const std::string& v) {
    std::string out;
    for (char c : v) {
      if (c == '\\' || c == '"') out.push_back('\\');
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out.push_back(c);
    }
    return out;
  }
  std::ostringstream out_;
};

}  // namespace

std::string prometheus_text(const std::string& node_id, const node_stats& n, const gateway_stats& g,
                            const gateway_stats& ws, const detail_figures& d) {
  exposition e;
  e.info("parley_node_info", "The node's id.", "node", node_id);
  e.gauge("parley_serving", "1 while the node serves its shards (0: fenced, lease lapsed).",
          n.serving ? 1 : 0);
  e.gauge("parley_shard_map_epoch", "Epoch of the shard map the node follows.", n.map_epoch);
  e.gauge("parley_owned_shards", "Shards the node owns in that map.", n.owned_shards);
  e.gauge("parley_reachable_peers", "Other nodes whose gate this node is connected to.",
          n.reachable_peers);
  e.gauge("parley_coordinator", "1 if this node is the cluster's coordinator.",
          n.coordinating ? 1 : 0);
  e.gauge("parley_connections", "Logged-in or not, client connections open now.", n.connections);
  e.counter("parley_logins_total", "Successful client logins.", n.logins);
  e.counter("parley_bad_frames_total", "Client frames answered with an error.", n.bad_frames);
  e.labelled_values("parley_logins_refused_total", "Refused client logins, by reason.", "counter",
                    "reason", [&](auto sample) {
                      for (std::size_t i = 0; i < actors::login_refusal_kinds; ++i) {
                        sample(actors::to_string(static_cast<actors::login_refusal>(i)),
                               n.logins_refused[i]);
                      }
                    });
  e.counter("parley_shard_moves_total", "Shards this node handed to another node.", n.shard_moves);
  e.counter("parley_shard_move_milliseconds_total",
            "Time the handoffs of those shards took, summed (one handoff may move several).",
            n.shard_move_ms);
  e.counter("parley_messages_stored_total", "Messages newly appended to a conversation.",
            n.messages_sent);
  e.counter("parley_messages_expired_total",
            "Conversation entries deleted because they outlived the conversation's retention.",
            n.messages_expired);
  e.counter("parley_pushes_total", "Pushes handed to client connections.", n.pushes);
  e.gauge("parley_active_actors", "Virtual actors active on the node now.", n.active_entities);
  e.counter("parley_commit_groups_total", "Group commits (one fsync each when durable).",
            n.commit_groups);
  e.counter("parley_commit_batches_total", "Write batches committed in those groups.",
            n.commit_batches);
  e.gauge("parley_client_sockets", "Client sockets open now.", g.open);
  e.gauge("parley_client_sockets_max", "The client socket cap in force.", g.max_connections);
  e.counter("parley_client_sockets_refused_total",
            "Client sockets refused because the cap was reached.", g.refused_full);
  e.counter("parley_accept_backoffs_total", "Accept failures that paused accepting.",
            g.accept_backoffs);
  e.labelled("parley_read_pauses_total", "Times a client socket stopped being read, by cause.",
             "counter", {{"backpressure", g.paused_reads}, {"rate", g.throttled_reads}}, "cause");
  e.gauge("parley_inflight_frame_bytes", "Client frame bytes handed to actors, not yet answered.",
          g.inflight_bytes);
  e.histogram("parley_send_ack_seconds",
              "From a connection handling a send to its ack (the durable append included).",
              d.send_ack, 1e6);
  e.histogram("parley_commit_write_seconds",
              "One group commit's RocksDB write, its fsync included when durable.", d.commit_write,
              1e6);
  e.histogram("parley_commit_group_batches", "Write batches merged into one group commit.",
              d.group_batches, 1);
  // The census's kinds in runtime::entity_kind order; `field` picks one figure of each.
  const auto by_kind = [&d](auto field) {
    return [&d, field](auto sample) {
      static const char* const kinds[] = {"user", "group", "conversation", "presence"};
      for (std::size_t k = 0; k < d.actors.size(); ++k) sample(kinds[k], field(d.actors[k]));
    };
  };
  e.labelled_values("parley_active_actors_by_kind", "Virtual actors active now, by kind.", "gauge",
                    "kind", by_kind([](const actors::kind_census& k) { return k.active; }));
  e.labelled_values("parley_mailbox_messages",
                    "Messages waiting in the mailboxes of the active actors of each kind.", "gauge",
                    "kind", by_kind([](const actors::kind_census& k) { return k.queued; }));
  e.labelled_values("parley_mailbox_deepest",
                    "The most messages waiting in one actor's mailbox, by kind.", "gauge", "kind",
                    by_kind([](const actors::kind_census& k) { return k.deepest; }));
  e.gauge("parley_rocksdb_memtable_bytes", "Bytes in RocksDB's memtables, all shards.",
          d.engine.memtable_bytes);
  e.gauge("parley_rocksdb_pending_compaction_bytes",
          "Bytes RocksDB estimates compaction must still rewrite, all shards.",
          d.engine.pending_compaction_bytes);
  e.gauge("parley_rocksdb_running_compactions", "Compactions running now.",
          d.engine.running_compactions);
  e.counter("parley_rocksdb_flushes_total", "Memtable flushes RocksDB finished, all shards.",
            d.engine.flushes);
  e.counter("parley_rocksdb_compactions_total", "Compactions RocksDB finished, all shards.",
            d.engine.compactions);
  e.gauge("parley_rocksdb_writes_stopped", "1 while RocksDB stops writes (a stall).",
          d.engine.writes_stopped ? 1 : 0);
  e.gauge("parley_rocksdb_delayed_write_rate_bytes",
          "The write rate RocksDB slows writers to while it delays them (0: not delayed).",
          d.engine.delayed_write_rate);
  e.gauge("parley_websocket_sockets", "WebSocket sockets open now.", ws.open);
  e.counter("parley_websocket_sockets_refused_total",
            "WebSocket sockets refused because the cap was reached.", ws.refused_full);
  e.gauge("parley_websocket_inflight_frame_bytes",
          "WebSocket frame bytes handed to actors, not yet answered.", ws.inflight_bytes);
  return e.text();
}

}  // namespace parley::server
