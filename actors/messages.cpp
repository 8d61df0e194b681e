#include "actors/messages.hpp"

#include <caf/atom.hpp>
#include <caf/message.hpp>

namespace ogf {

engine_errc engine_code(const caf::error& err) {
  if (!err)
    return engine_errc::none;
  if (err.category() == caf::atom("ogf"))
    return static_cast<engine_errc>(err.code());
  if (err.category() == caf::atom("system")) {
    auto sec = static_cast<caf::sec>(err.code());
    if (sec == caf::sec::request_timeout
        || sec == caf::sec::request_receiver_down)
      return engine_errc::unavailable;
  }
  return engine_errc::internal;
}

std::string engine_message(const caf::error& err) {
  if (err.category() == caf::atom("ogf") && err.context().match_elements<std::string>())
    return err.context().get_as<std::string>(0);
  return {};
}

} // namespace ogf
