package queue

// DecodeBatch reads what EncodeBatch wrote, rows and all: for this
// package's tests. Workers decode the header and load the rows only when
// they need them (DecodeBatchHeader, LoadRows).
func DecodeBatch(payload []byte) (*Batch, error) {
	b, err := DecodeBatchHeader(payload)
	if err != nil {
		return nil, err
	}
	return b, b.LoadRows()
}
