#pragma once
// Encoding of client requests and decoding of server frames, shared by the blocking
// connection (client.hpp) and by asynchronous drivers such as the load generator.

#include "parley/client/client.hpp"
#include "parley/schema/framing.hpp"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace parley::client::codec {

using filler = std::function<void(wire::ClientFrame::Builder)>;

/// A stream-framed ClientFrame with `request_id`, its request set by `fill`.
schema::frame_words encode(std::uint64_t request_id, const filler& fill);

void fill_login(wire::ClientFrame::Builder f, const std::string& token, const std::string& device,
                wire::DeviceType type);
void fill_send_to_user(wire::ClientFrame::Builder f, const std::string& peer,
                       const std::string& client_msg_id, const std::string& body,
                       std::uint32_t content_type, const std::vector<std::string>& mentions);
void fill_send_to_group(wire::ClientFrame::Builder f, const std::string& group,
                        const std::string& client_msg_id, const std::string& body,
                        std::uint32_t content_type, const std::vector<std::string>& mentions,
                        bool mention_all = false);
void fill_pull(wire::ClientFrame::Builder f, const std::string& conversation,
               std::uint64_t after_seq, std::uint32_t limit);
void fill_join_group(wire::ClientFrame::Builder f, const std::string& group);
void fill_create_group(wire::ClientFrame::Builder f, const std::string& group,
                       const std::string& name, const group_options& options = {});

/// One decoded ServerFrame: a Result (answering request_id) or a push.
struct server_frame {
  std::uint64_t request_id = 0;
  bool is_result = false;
  response result;  ///< when is_result
  push pushed;      ///< otherwise
};

/// Decodes one complete frame; nullopt if it is not a readable ServerFrame.
std::optional<server_frame> decode(const schema::frame_words& words);

}  // namespace parley::client::codec
