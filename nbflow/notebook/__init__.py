"""Reading a notebook (pure): cell headers (the one grammar), cell code compiled with the cell's
own line numbers, parameters of the flow cell, and the imports a zygote may preload."""
