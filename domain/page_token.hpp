// Opaque page tokens for keyset pagination. A token carries the sort key of
// the last row of a page; the next page starts strictly after it. Clients
// must treat tokens as opaque: the layout may change between versions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "domain/model.hpp"

namespace ogf::domain {

/// Position in the batch list, which is ordered by (created_at desc, id
/// desc): the next page holds the rows strictly after this one.
struct batch_cursor {
  timestamp_us created_at = 0;
  std::string id; ///< batch UUID, lower case
};

/// Equal when both fields are.
inline bool operator==(const batch_cursor& a, const batch_cursor& b) {
  return a.created_at == b.created_at && a.id == b.id;
}

/// Encodes the last row of a batch page as URL-safe base64 text (no padding,
/// no characters that need escaping in a query string). `last.id` is expected
/// to be a UUID; decode refuses tokens that do not carry one.
std::string encode_batch_page_token(const batch_cursor& last);

/// Decodes a token made by encode_batch_page_token. nullopt for anything else:
/// bad base64, a token of another kind (an items token), a checksum mismatch
/// (a changed or truncated token), a created_at outside 1970-01-01 to
/// 9999-12-31T23:59:59.999999Z, a non-UUID id, or more than 256 chars. The
/// checksum guards against corruption, not forgery (it is unkeyed): every
/// decoded field is range-checked instead, so a forged token is either
/// refused here (400 naming page_token) or a position in the caller's own
/// rows, which the list query scopes to the tenant anyway.
std::optional<batch_cursor> decode_batch_page_token(std::string_view token);

/// Encodes the last activity_id of a batch-items page (items are ordered by
/// activity_id ascending) in the same way.
std::string encode_item_page_token(std::string_view last_activity_id);

/// Decodes a token made by encode_item_page_token; nullopt for garbage, a
/// batch-list token, or an id outside the activity-id rules (the only
/// field, checked like the batch token's).
std::optional<std::string> decode_item_page_token(std::string_view token);

} // namespace ogf::domain
