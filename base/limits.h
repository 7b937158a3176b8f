// The size limits every recomp message obeys, in one place: what a decoder accepts
// (messages/codec.h) and what the transport receives (net/transport.h sets ZMQ_MAXMSGSIZE from
// them). docs/wire.md and docs/protocol.md state them. Constants; thread-safe.
#pragma once

#include <cstddef>

namespace recomp::limits {

// The largest message body (one MessagePack value) a decoder accepts.
inline constexpr size_t kMaxBodyBytes = size_t{16} << 20;
// The largest frame the transport receives (ZMQ_MAXMSGSIZE). Twice the body limit, so a body
// over kMaxBodyBytes arrives and is answered with a clear error; past this libzmq drops the
// connection before we see a byte.
inline constexpr size_t kMaxFrameBytes = 2 * kMaxBodyBytes;
// Frames of one message that are kept (a ROUTER's routing frames, the protocol frames, and a
// spare); the rest of a longer message is counted and discarded.
inline constexpr size_t kMaxFrames = 8;

}  // namespace recomp::limits
