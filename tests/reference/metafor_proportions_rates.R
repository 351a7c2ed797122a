# metafor_proportions_rates.R -- escalc() for proportions (PR, PLN, PLO, PAS, PFT) and incidence
# rates (IR, IRLN, IRS, IRFT, IRR, IRD), random-effects pooling and metafor's back-transformations
# (transf.ilogit, exp, transf.iarcsin, transf.ipft.hm, transf.isqrt, transf.iirft), metafor 3.8-1.
#   Rscript metafor_proportions_rates.R metafor_proportions_rates.json
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[1] else "metafor_proportions_rates.json"
TIGHT <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)
na_json <- function(x) lapply(as.numeric(x), function(v) if (is.na(v)) NULL else v)

pooled <- function(es, transf, targs = NULL) {
  fit <- rma(yi, vi, data = es, method = "REML", control = TIGHT)
  pr <- if (is.null(transf)) predict(fit) else predict(fit, transf = transf, targs = targs)
  list(beta = as.numeric(fit$beta), se = fit$se, tau2 = fit$tau2,
       pred = pr$pred, ci_lb = pr$ci.lb, ci_ub = pr$ci.ub, pi_lb = pr$pi.lb, pi_ub = pr$pi.ub)
}
one <- function(measure, call, es, transf, transf_name, targs = NULL) {
  list(measure = measure, call = call, transf = transf_name, yi = na_json(es$yi), vi = na_json(es$vi),
       rma_reml = pooled(es, transf, targs))
}

# proportions: dat.pritz1997 (xi events of ni), with one study given no events to exercise 'add'
p <- dat.pritz1997[, c("study", "xi", "ni")]
p0 <- p; p0$xi[3] <- 0
out <- list(versions = list(R = R.version.string, metafor = as.character(packageVersion("metafor"))),
            pritz1997 = list(xi = p$xi, ni = p$ni), pritz1997_zero = list(xi = p0$xi, ni = p0$ni))
out$proportions <- list(
  PR = one("PR", "escalc('PR', xi=xi, ni=ni, data=dat.pritz1997)", escalc("PR", xi = xi, ni = ni, data = p), NULL, "none"),
  PLN = one("PLN", "escalc('PLN', xi=xi, ni=ni, data=dat.pritz1997)", escalc("PLN", xi = xi, ni = ni, data = p), exp, "exp"),
  PLO = one("PLO", "escalc('PLO', xi=xi, ni=ni, data=dat.pritz1997)", escalc("PLO", xi = xi, ni = ni, data = p), transf.ilogit, "ilogit"),
  PAS = one("PAS", "escalc('PAS', xi=xi, ni=ni, data=dat.pritz1997)", escalc("PAS", xi = xi, ni = ni, data = p), transf.iarcsin, "iarcsin"),
  PFT = one("PFT", "escalc('PFT', xi=xi, ni=ni, data=dat.pritz1997); predict(fit, transf=transf.ipft.hm, targs=list(ni=ni))",
            escalc("PFT", xi = xi, ni = ni, data = p), transf.ipft.hm, "ipft.hm", list(ni = p$ni)))
out$proportions_zero <- list(
  PR_UB = list(call = "escalc('PR', xi, ni, vtype='UB') with xi[3] = 0", yi = na_json(escalc("PR", xi = xi, ni = ni, data = p0, vtype = "UB")$yi), vi = na_json(escalc("PR", xi = xi, ni = ni, data = p0, vtype = "UB")$vi)),
  PLO = list(call = "escalc('PLO', xi, ni) with xi[3] = 0 (add 1/2 to that study)", yi = na_json(escalc("PLO", xi = xi, ni = ni, data = p0)$yi), vi = na_json(escalc("PLO", xi = xi, ni = ni, data = p0)$vi)),
  PLN = list(call = "escalc('PLN', xi, ni) with xi[3] = 0", yi = na_json(escalc("PLN", xi = xi, ni = ni, data = p0)$yi), vi = na_json(escalc("PLN", xi = xi, ni = ni, data = p0)$vi)),
  PFT = list(call = "escalc('PFT', xi, ni) with xi[3] = 0 (add 0)", yi = na_json(escalc("PFT", xi = xi, ni = ni, data = p0)$yi), vi = na_json(escalc("PFT", xi = xi, ni = ni, data = p0)$vi)),
  PAS_add = list(call = "escalc('PAS', xi, ni, add=1/2, to='all') with xi[3] = 0", yi = na_json(escalc("PAS", xi = xi, ni = ni, data = p0, add = 1/2, to = "all")$yi), vi = na_json(escalc("PAS", xi = xi, ni = ni, data = p0, add = 1/2, to = "all")$vi)),
  PLO_to_none = list(call = "escalc('PLO', xi, ni, to='none') with xi[3] = 0 (-Inf -> NA)", yi = na_json(suppressWarnings(escalc("PLO", xi = xi, ni = ni, data = p0, to = "none"))$yi), vi = na_json(suppressWarnings(escalc("PLO", xi = xi, ni = ni, data = p0, to = "none"))$vi)))

# incidence rates: dat.hart1999 (x1i events in t1i person-years, x2i in t2i)
h <- dat.hart1999[, c("trial", "x1i", "t1i", "x2i", "t2i")]
out$hart1999 <- list(x1i = h$x1i, t1i = h$t1i, x2i = h$x2i, t2i = h$t2i)
out$rates <- list(
  IR = one("IR", "escalc('IR', xi=x1i, ti=t1i, data=dat.hart1999)", escalc("IR", xi = x1i, ti = t1i, data = h), NULL, "none"),
  IRLN = one("IRLN", "escalc('IRLN', xi=x1i, ti=t1i, data=dat.hart1999)", escalc("IRLN", xi = x1i, ti = t1i, data = h), exp, "exp"),
  IRS = one("IRS", "escalc('IRS', xi=x1i, ti=t1i, data=dat.hart1999)", escalc("IRS", xi = x1i, ti = t1i, data = h), transf.isqrt, "isqrt"),
  IRFT = one("IRFT", "escalc('IRFT', xi=x1i, ti=t1i, data=dat.hart1999); predict(fit, transf=transf.iirft, targs=list(ti=mean(t1i)))",
             escalc("IRFT", xi = x1i, ti = t1i, data = h), function(x, ...) transf.iirft(x, ti = mean(h$t1i)), "iirft(ti = mean(ti))"),
  IRR = one("IRR", "escalc('IRR', x1i=x1i, t1i=t1i, x2i=x2i, t2i=t2i, data=dat.hart1999)", escalc("IRR", x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i, data = h), exp, "exp"),
  IRD = one("IRD", "escalc('IRD', x1i=x1i, t1i=t1i, x2i=x2i, t2i=t2i, data=dat.hart1999)", escalc("IRD", x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i, data = h), NULL, "none"))
h0 <- h; h0$x1i[2] <- 0; h0$x2i[4] <- 0
out$hart1999_zero <- list(x1i = h0$x1i, t1i = h0$t1i, x2i = h0$x2i, t2i = h0$t2i,
  IRR = list(yi = na_json(escalc("IRR", x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i, data = h0)$yi), vi = na_json(escalc("IRR", x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i, data = h0)$vi)),
  IRD = list(yi = na_json(escalc("IRD", x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i, data = h0)$yi), vi = na_json(escalc("IRD", x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i, data = h0)$vi)),
  IRLN = list(yi = na_json(escalc("IRLN", xi = x1i, ti = t1i, data = h0)$yi), vi = na_json(escalc("IRLN", xi = x1i, ti = t1i, data = h0)$vi)),
  IRFT = list(yi = na_json(escalc("IRFT", xi = x1i, ti = t1i, data = h0)$yi), vi = na_json(escalc("IRFT", xi = x1i, ti = t1i, data = h0)$vi)))
# the back-transformations on a grid
g <- c(-0.5, 0, 0.1, 0.4, 0.8, 1.2, 1.6)
out$transf_grid <- list(x = g, ilogit = transf.ilogit(g), iarcsin = transf.iarcsin(g),
  isqrt = transf.isqrt(g), ipft_n20 = transf.ipft(g, 20), ipft_hm = transf.ipft.hm(g, targs = list(ni = c(10, 20, 40))),
  iirft_t50 = transf.iirft(g, 50))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"), out_file)
