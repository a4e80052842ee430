-- A withdrawal is carried out for the child and, when it leaves the parent no child under consent,
-- for the parent too (#24 item 3): one destruction record per person per withdrawal row.
DROP INDEX destruction_records_withdrawal;
CREATE UNIQUE INDEX destruction_records_withdrawal ON destruction_records(withdrawal_row, person_id)
    WHERE withdrawal_row IS NOT NULL;
