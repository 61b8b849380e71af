module cphpurchase

go 1.26
