// targeted scenarios come next
