// Reads the built-in factor set, data/emission_factors.csv, for the unit
// tests, so that hand-computed cases use the shipped values and a change to
// the CSV makes them fail rather than silently test stale numbers.
#pragma once

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "domain/factor_resolution.hpp"
#include "domain/model.hpp"

namespace ogf::test {

/// Path of a file in the source tree.
inline std::string source_path(const std::string& relative) {
  return std::string(OGF_SOURCE_DIR) + "/" + relative;
}

/// The whole file as a string; throws if it cannot be read.
inline std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error("cannot read " + path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

/// Splits RFC 4180 CSV text into records of fields (quoted fields may hold
/// commas, doubled quotes and line breaks).
inline std::vector<std::vector<std::string>>
parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record;
  std::string field;
  bool quoted = false;
  bool field_started = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
      field_started = true;
    } else if (c == ',') {
      record.push_back(field);
      field.clear();
      field_started = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n')
        ++i;
      if (field_started || !field.empty()) {
        record.push_back(field);
        records.push_back(record);
      }
      record.clear();
      field.clear();
      field_started = false;
    } else {
      field += c;
      field_started = true;
    }
  }
  if (field_started || !field.empty()) {
    record.push_back(field);
    records.push_back(record);
  }
  return records;
}

/// The CSV's records, header first.
inline std::vector<std::vector<std::string>> builtin_factor_records() {
  return parse_csv(read_text_file(source_path("data/emission_factors.csv")));
}

/// Every built-in factor as a factor row without owner. Throws on a row
/// that does not have the 8 columns of the header.
inline std::vector<domain::factor_row> builtin_factors() {
  auto records = builtin_factor_records();
  std::vector<domain::factor_row> rows;
  for (std::size_t i = 1; i < records.size(); ++i) {
    const auto& r = records[i];
    if (r.size() != 8)
      throw std::runtime_error("emission_factors.csv: bad row " +
                               std::to_string(i + 1));
    domain::emission_factor f;
    f.id = r[0];
    f.activity_type = r[1];
    f.scope = std::stoi(r[2]);
    f.region = r[3];
    f.unit = r[4];
    f.kg_co2e_per_unit = r[5];
    f.valid_from = r[6];
    f.source = r[7];
    f.builtin = true;
    rows.push_back(domain::factor_row{std::nullopt, f});
  }
  return rows;
}

/// The built-in factor with this id; throws if there is none.
inline domain::emission_factor builtin_factor(const std::string& id) {
  for (const auto& row : builtin_factors())
    if (row.factor.id == id)
      return row.factor;
  throw std::runtime_error("no built-in factor " + id);
}

} // namespace ogf::test
