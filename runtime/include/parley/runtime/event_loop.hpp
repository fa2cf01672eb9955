#pragma once
// The node's event loop: a few threads, each running the same Asio io_context, that serve both
// the sockets and the actors.
//
// A message used to cross three threads on its way through a node: the gateway's io thread
// read the frame and enqueued it for the connection hub, a CAF worker ran the hub, the
// entities and the hub again, and the io thread wrote the answers. On this machine kind every
// such hand-over is a futex or eventfd wake-up and a context switch (the woken thread
// preempts the one that woke it), and at 1,000 msg/s they were most of the ~200 µs of server
// CPU per message (perf: ~7 switches per message; docs/benchmarks.md "What limits").
//
// Here CAF's scheduler is replaced (a scheduler module, `host_actors`) by one that posts each
// runnable actor to this loop. An actor enqueued from a loop thread runs on that thread after
// the current handler, with one loop thread from its private queue (no lock, no wake-up); so a
// frame read from a socket is decoded, served by its entities and answered on the thread that
// read it. Enqueues from other threads (the group committer, the app port, the cluster's
// middleman) post with Asio's lock and wake-up, as CAF's workers did.
//
// Writes: while its batches share sockets' writes (a busy fan-out), the gateway's outbox hands
// frames to the sockets only once no actor waits to run (a bounded number of turns at most),
// so the frames that the waiting actors are about to queue for the same sockets leave in the
// same write (a `sendmsg` per socket and burst instead of per frame); `actors_waiting` tells
// it.
//
// Fairness: an actor handles at most `scheduler.max-throughput` messages per turn, then goes
// to the back of the queue, behind the sockets' ready handlers.
// A handler that blocks (a long store read) holds up the sockets of its thread as it held up
// its CAF worker before; with one thread, every socket.
//
// Lifetime: the loop is made before the actor system and stopped after it is destroyed. The
// scheduler's stop (in the actor system's destructor) lets every queued actor clean up on the
// loop, then returns; stop() then lets the threads finish what Asio still holds and joins them.
// Timers (delayed messages, request timeouts) run on a clock thread of their own, as in CAF.

#include <cstddef>
#include <memory>

namespace asio {
class io_context;
}  // namespace asio

namespace caf {
class actor_system_config;
}  // namespace caf

namespace parley::runtime {

/// See the file comment.
class event_loop {
 public:
  /// Starts `threads` threads (at least one) running the loop.
  explicit event_loop(std::size_t threads);
  /// stop()
  ~event_loop();
  event_loop(const event_loop&) = delete;
  event_loop& operator=(const event_loop&) = delete;

  /// The loop, for sockets and timers. Handlers may run on any of its threads.
  asio::io_context& io();
  /// How many threads run the loop (a socket needs a strand when there are several).
  std::size_t threads() const;
  /// How many actors are queued on the loop to run (a hint: it changes as it is read).
  std::size_t actors_waiting() const;

  /// Makes the actor system built from `cfg` run its actors on this loop. The system must be
  /// destroyed before this loop stops.
  void host_actors(caf::actor_system_config& cfg);

  /// Lets the threads finish what is queued and joins them. Idempotent.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace parley::runtime
