// RFC 4180 CSV reader for the upload preview, counting rows as the server does
// (domain/validation.hpp): quoted fields may hold commas, line breaks and "" for a quote;
// records end with CRLF or LF; a byte order mark and blank lines are skipped.
// Returns an array of records (string arrays), the header first.

export function parseCsv(text) {
  const rows = [];
  let row = [], field = '', quoted = false, wasQuoted = false, i = 0;
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  const endField = () => { row.push(field); field = ''; wasQuoted = false; };
  const endRow = () => {
    const blank = row.length === 0 && field === '' && !wasQuoted;
    endField();
    if (!blank) rows.push(row);
    row = [];
  };
  for (; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c !== '"') field += c;
      else if (text[i + 1] === '"') { field += '"'; i++; } else quoted = false;
    } else if (c === '"' && field === '') { quoted = true; wasQuoted = true; }
    else if (c === ',') endField();
    else if (c === '\n' || (c === '\r' && text[i + 1] === '\n')) {
      if (c === '\r') i++;
      endRow();
    } else field += c;
  }
  if (field !== '' || row.length || wasQuoted) endRow(); // last record without a line end
  return rows;
}
