package srdb

import "hash/crc32"

// crcTable is the CRC32-C (Castagnoli) table of every checksum SRDB stores:
// WAL headers and records, SST headers, footers, nodes and records, MANIFEST
// headers and records, schema.json and database.meta.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// checksum returns the CRC32-C of b.
func checksum(b []byte) uint32 { return crc32.Checksum(b, crcTable) }
