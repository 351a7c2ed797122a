# Cross-check of rma() on 30 random data sets (data.csv: set, yi, vi, x; k = 3..24, tau2 in
# {0, 0.005, 0.05, 0.5}) for every estimator, z and Knapp-Hartung tests, with and without a
# continuous moderator. metafor 3.8-1 with tight control. Run in this folder:
#   Rscript crosscheck.R   (writes metafor_out.csv; columns lb/ub/pilb hold R2/QM/QMp for mods = 1)
suppressPackageStartupMessages(library(metafor))
d <- read.csv("data.csv")
T <- list(threshold=1e-12, tol=1e-12, maxiter=10000)
out <- list()
for (s in unique(d$set)) {
  dd <- d[d$set==s,]
  for (m in c("FE","DL","HE","HS","SJ","ML","REML","EB","PM")) for (tst in c("z","knha")) {
    if (m=="FE" && tst=="knha") next
    r <- try(suppressWarnings(rma(yi, vi, data=dd, method=m, test=tst, control=T)), silent=TRUE)
    if (inherits(r,"try-error")) {out[[length(out)+1]] <- data.frame(set=s,method=m,test=tst,mods=0,beta=NA,se=NA,tau2=NA,I2=NA,QE=NA,lb=NA,ub=NA,pilb=NA,err=1); next}
    lb <- ub <- NA
    if (m!="FE") {ci <- try(confint(r, control=list(tol=1e-12,maxiter=10000)), silent=TRUE); if (!inherits(ci,"try-error")) {lb <- ci$random[1,2]; ub <- ci$random[1,3]}}
    p <- predict(r)
    out[[length(out)+1]] <- data.frame(set=s,method=m,test=tst,mods=0,beta=r$beta[1],se=r$se[1],tau2=r$tau2,I2=r$I2,QE=r$QE,lb=lb,ub=ub,pilb=if (is.null(p$pi.lb)) NA else p$pi.lb, err=0)
    if (nrow(dd) >= 4) {
      r <- try(suppressWarnings(rma(yi, vi, mods=~x, data=dd, method=m, test=tst, control=T)), silent=TRUE)
      if (inherits(r,"try-error")) {out[[length(out)+1]] <- data.frame(set=s,method=m,test=tst,mods=1,beta=NA,se=NA,tau2=NA,I2=NA,QE=NA,lb=NA,ub=NA,pilb=NA,err=1); next}
      out[[length(out)+1]] <- data.frame(set=s,method=m,test=tst,mods=1,beta=r$beta[2],se=r$se[2],tau2=r$tau2,I2=r$I2,QE=r$QE,lb=if (is.null(r$R2)) NA else r$R2,ub=r$QM,pilb=r$QMp, err=0)
    }
  }
}
write.csv(do.call(rbind,out),"metafor_out.csv",row.names=FALSE)
