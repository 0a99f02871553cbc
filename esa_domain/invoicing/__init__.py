"""E-invoices through ECPay (issue 19): the carrier (carrier), issuing and adjusting (issuing), what people read
(views)."""
